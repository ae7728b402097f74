"""Fetch CS231n's tiny-imagenet-200.zip (checking its MD5) and unzip it into place (see wdecay.data.raw)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log, stop

send_to_log(snakemake.log[0])

from wdecay.data import raw
from wdecay.data.fetch import FetchError

with phase("download"):
    try:
        raw.fetch_tiny_imagenet(snakemake.params.url, snakemake.params.md5, Path(snakemake.output[0]).parent)
    except FetchError as error:
        stop(error)
