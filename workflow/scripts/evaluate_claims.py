"""Evaluate every claim on the tables of this preset into results/claims.parquet and a readable table."""

from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import claims, tables
from wdecay.files import atomic_path

frames = {Path(p).stem: tables.read(p, tables.VISION_TRAIN).to_pandas() for p in snakemake.input}
rows = claims.evaluate(frames, snakemake.params.preset)
tables.write(tables.to_table(rows, tables.CLAIMS), tables.CLAIMS, snakemake.output.table)
with atomic_path(snakemake.output.text) as tmp:
    tmp.write_text(claims.to_markdown(rows))
