"""Take every measure of the weight sets of one run at one checkpoint (see wdecay.measure.job)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

import torch

from wdecay.measure import job

torch.set_num_threads(snakemake.threads)
job.measure(
    snakemake.params.run,
    snakemake.params.measures,
    int(snakemake.wildcards.epoch),
    files={k: v for k, v in snakemake.input.items() if k in ("checkpoint", "finetuned", "snapshots")},
    data_dir=Path(snakemake.input.data[0]).parent,
    train_dir=Path(snakemake.input.train[0]).parent,
    settings=snakemake.params.settings,
    out=snakemake.output[0],
)
