"""Render a group of figures that read the same parquet tables: pdf, png and the exact data drawn, per figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.figures.render import render, save
from wdecay.io import tables
from wdecay.io.joblog import phase

KINDS = {
    "train": tables.VISION_TRAIN,
    "finetune": tables.FINETUNE,
    "measure": tables.MEASURE,
    "llm_train": tables.LLM_TRAIN,
    "llm_finetune": tables.LLM_FINETUNE,
}
frames = dict.fromkeys(KINDS)
with phase("read"):
    for kind, schema in KINDS.items():
        paths = [p for p in snakemake.input if f"/tables/{schema.metadata[b'table'].decode()}/" in p]
        if paths:
            frames[kind] = tables.concat(paths, schema).to_pandas()
out = snakemake.output
for i, spec in enumerate(snakemake.params.specs.values()):
    fig, data = render(spec, frames)
    save(fig, data, out.pdf[i], out.png[i], out.data[i])
