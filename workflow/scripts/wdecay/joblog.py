"""First step of every job script: stderr and logging go to the rule's log file, line by line. The log is appended
to, so that the log of a job that was stopped and rerun (preemption, time limit, retry) keeps every attempt."""

import logging
import os
import sys
import time


def send_to_log(path) -> None:
    sys.stderr = open(path, "a", buffering=1)
    host = os.uname().nodename
    print(f"=== attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on {host}, pid {os.getpid()} ===", file=sys.stderr)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
