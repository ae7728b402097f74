"""First step of every job script: stderr and logging go to the rule's log file, line by line, under a header
naming the host and process (which node ran it, on a cluster)."""

import logging
import os
import sys
import time


def send_to_log(path) -> None:
    sys.stderr = open(path, "w", buffering=1)
    host = os.uname().nodename
    print(f"=== attempt started {time.strftime('%Y-%m-%d %H:%M:%S')} on {host}, pid {os.getpid()} ===", file=sys.stderr)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def stop(message) -> None:
    """End the job with a message for the user (what to do), in the log and on the terminal, without a traceback."""
    print(message, file=sys.__stderr__)
    sys.exit(str(message))
