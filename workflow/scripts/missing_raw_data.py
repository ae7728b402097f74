"""Stop: raw data that the workflow does not fetch (its dataset's `root` is set elsewhere) is missing. The message,
built at plan time (wdecay.data.raw.instructions), says what to download, from where, and where to put it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log, stop

send_to_log(snakemake.log[0])

stop("\n".join(snakemake.params.instructions))
