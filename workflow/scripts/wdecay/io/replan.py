"""The end of a local Snakemake run without its re-plan timers' wait.

Under a job-rate limit (the local profile's ``max-jobs-per-timespan``, a 10 s window) Snakemake's scheduler starts a
``threading.Timer`` after each round of job selection, to re-plan once the window has passed. The timers are not
daemon threads, so the interpreter joins them at exit: without this, each run ended up to one window after its last
job (about 10 s of every ``snakemake`` call). The Snakefile's onsuccess and onerror hooks, run once scheduling is
over, cancel them."""

import threading


def cancel_timers() -> int:
    """Cancel every pending ``threading.Timer`` of this process; returns how many there were."""
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
    for timer in timers:
        timer.cancel()
    return len(timers)
