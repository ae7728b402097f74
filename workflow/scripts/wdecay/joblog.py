"""First step of every job script: stderr and logging go to the rule's log file, line by line."""

import logging
import sys


def send_to_log(path) -> None:
    sys.stderr = open(path, "w", buffering=1)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
