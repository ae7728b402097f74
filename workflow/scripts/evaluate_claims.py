"""Evaluate every claim on the tables of this preset into results/claims.parquet and a readable table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log

send_to_log(snakemake.log[0])

from wdecay import claims
from wdecay.io import tables
from wdecay.io.files import atomic_path

# Claims name tables by family (training metrics), family:finetune and family:measure.
KINDS = {
    "vision_train": ("", tables.VISION_TRAIN),
    "finetune": (":finetune", tables.FINETUNE),
    "measure": (":measure", tables.MEASURE),
    "llm_train": ("", tables.LLM_TRAIN),
    "llm_finetune": (":finetune", tables.LLM_FINETUNE),
}
with phase("evaluate"):
    frames = {}
    for path in map(Path, snakemake.input):
        suffix, schema = KINDS[path.parent.name]
        frames[path.stem + suffix] = tables.read(path, schema).to_pandas()
    rows = claims.evaluate(frames, snakemake.params.preset, snakemake.params.protocol)
    tables.write(tables.to_table(rows, tables.CLAIMS), tables.CLAIMS, snakemake.output.table)
    for path, text in (
        (snakemake.output.text, claims.to_markdown(rows)),
        (snakemake.output.html, claims.to_html(rows)),
    ):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
