"""The pre-flight of the preset: one short real job of every job kind, and the bill (see wdecay.preflight)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log

send_to_log(snakemake.log[0])

from wdecay.preflight.run import write_preflight

with phase("probe"):
    write_preflight(
        snakemake.params.plan,
        snakemake.params.settings,
        threads=snakemake.threads,
        table_path=snakemake.output.table,
        report_path=snakemake.output.report,
    )
