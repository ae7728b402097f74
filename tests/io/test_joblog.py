"""The job log: header, and the timing line bench/tiny_profile.py reads (startup, phases, total)."""

import json
import subprocess
import sys
import time
from pathlib import Path

from wdecay.io import joblog

SCRIPTS = Path(joblog.__file__).parents[2]


def test_timing_line_holds_startup_phases_and_total(tmp_path):
    log = tmp_path / "job.log"
    script = f"""
import time
from wdecay.io.joblog import phase, send_to_log
send_to_log({str(log)!r})
time.sleep(0.3)  # stands for the imports before the work
for _ in range(2):
    with phase("train"):
        time.sleep(0.1)
with phase("write"):
    time.sleep(0.05)
"""
    subprocess.run([sys.executable, "-c", script], cwd=SCRIPTS, check=True)
    lines = log.read_text().splitlines()
    assert lines[0].startswith("=== attempt started")
    timing = json.loads(lines[-1].split(" timing ", 1)[1])
    assert list(timing) == ["startup", "train", "write", "total"]
    assert timing["startup"] >= 0.3
    assert 0.2 <= timing["train"] < 0.3 and 0.05 <= timing["write"] < 0.1
    parts = timing["startup"] + timing["train"] + timing["write"]
    assert timing["total"] >= parts - 0.002  # each value is rounded to the millisecond


def test_process_start_is_this_process():
    started = joblog.process_start()
    assert started is not None and 0 < time.time() - started < 6 * 3600  # this test process began within hours


def test_the_collector_is_off_during_the_imports_and_back_on_for_the_work(tmp_path):
    """Off between send_to_log and the first phase; then on, with what the imports made frozen out of its way, so
    that cyclic garbage made by the work is still collected."""
    script = f"""
import gc
from wdecay.io.joblog import phase, send_to_log
send_to_log({str(tmp_path / "job.log")!r})
assert not gc.isenabled()
import json  # stands for the imports
with phase("train"):
    assert gc.isenabled() and gc.get_freeze_count() > 0
    cycle = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
"""
    subprocess.run([sys.executable, "-c", script], cwd=SCRIPTS, check=True)
