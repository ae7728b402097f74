"""Stop requests from the scheduler or the user.

SLURM sends SIGTERM before it kills a job (preemption, time limit, scancel) and, when asked with
``sbatch --signal=USR1@<seconds>``, SIGUSR1 some time earlier; Ctrl-C sends SIGINT. The handler only records the
request: the training loop saves its resumable state at the next step boundary and the job exits with 128 + the
signal's number, so the scheduler (or Snakemake's ``retries``) reruns it and the rerun resumes from that state.
"""

import contextlib
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


class Stopped(Exception):
    """Raised by a training loop after it saved its state because a stop was requested."""

    def __init__(self, signum: int, where: str):
        self.signum, self.where = signum, where
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequest:
    """Truthy once one of ``SIGNALS`` arrived while ``listening()``; ``signum`` says which."""

    def __init__(self):
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def request(self, signum: int, frame=None) -> None:
        self.signum = signum

    @contextlib.contextmanager
    def listening(self, signals=SIGNALS):
        """Install the handlers for the duration of the block (main thread only; elsewhere a no-op) and restore
        the previous ones after it."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self.request) for s in signals}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
