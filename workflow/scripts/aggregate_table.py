"""Concatenate the per-job parquet files of one family into one table of the kind `params.table` (schema-checked)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.io import tables
from wdecay.io.joblog import phase

schema = getattr(tables, snakemake.params.table)
with phase("write"):
    tables.write(tables.concat(snakemake.input, schema), schema, snakemake.output[0])
