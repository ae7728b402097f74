"""Fetch one CIFAR-5m part from its published location (see wdecay.data.raw): streamed to a temporary file,
checked (length, the server's MD5, the array headers) and renamed into place."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log, stop

send_to_log(snakemake.log[0])

from wdecay.data import raw
from wdecay.data.fetch import FetchError

output = Path(snakemake.output[0])
with phase("download"):
    try:
        raw.fetch_cifar5m_part(snakemake.params.url, output.parent, int(snakemake.wildcards.part))
    except FetchError as error:
        stop(error)
