"""First step of every job script: under a warm start the job moves to a child of the warm server
(wdecay.io.warmstart), then stderr and logging go to the rule's log file, line by line, under a header naming the
host and process (which node ran it, on a cluster). At exit the log gets one ``timing`` line: seconds from the
process's start (or its fork) to its first phase (interpreter, imports), each phase (``with phase("train"):``) and
the total, which bench/tiny_profile.py reads.

Python's cyclic garbage collector is off from ``send_to_log`` to the first phase: the imports in between (torch,
pandas, seaborn) allocate 300-500 thousand long-lived objects, and collecting among them, during the imports and
again at exit, cost 0.6 s of a job's 2.4 s start-up and exit. The first phase freezes those objects (the collector
skips them from then on) and turns the collector back on, so every job script does its work inside a phase.

Every job keeps the memory it frees for its next allocations (wdecay.heap)."""

import atexit
import gc
import json
import logging
import os
import sys
import time
from contextlib import contextmanager

from .. import heap
from . import warmstart

log = logging.getLogger(__name__)
_phases: dict[str, float] = {}
_first: list[float] = []  # wall-clock time at which the first phase began


def send_to_log(path) -> None:
    warmstart.hand_off()  # under a warm start, the rest of the job runs in a child of the server
    heap.keep_freed_memory()
    sys.stderr = open(path, "w", buffering=1)
    host = os.uname().nodename
    print(f"=== attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on {host}, pid {os.getpid()} ===", file=sys.stderr)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    atexit.register(_log_timing)
    gc.disable()  # until the first phase: the imports that follow


@contextmanager
def phase(name: str):
    """Add the time spent in the block to phase ``name`` (phases may repeat, e.g. one per epoch)."""
    if not _first:
        _first.append(time.time())
        gc.freeze()  # what the imports made lives as long as the process
        gc.enable()
    start = time.perf_counter()
    try:
        yield
    finally:
        _phases[name] = _phases.get(name, 0.0) + time.perf_counter() - start


def process_start() -> float | None:
    """When this process started (seconds since the epoch, 10 ms resolution), from /proc; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks after boot
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def timing() -> dict:
    """Seconds: ``startup`` (process start to the first phase), each phase, and ``total`` so far."""
    now, started = time.time(), process_start()

    def since(t: float) -> float | None:
        return round(t - started, 3) if started else None

    phases = {k: round(v, 3) for k, v in _phases.items()}
    return {"startup": since(_first[0] if _first else now)} | phases | {"total": since(now)}


def _log_timing() -> None:
    log.info("timing %s", json.dumps(timing()))


def stop(message) -> None:
    """End the job with a message for the user (what to do), in the log and on the terminal, without a traceback."""
    print(message, file=sys.__stderr__)
    sys.exit(str(message))
