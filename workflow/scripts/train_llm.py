"""Train one language-model run (see wdecay.training.llm)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

import json

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.training import llm, schedules
from wdecay.training.preempt import Stopped

run = snakemake.params.run
if run["schedule"] == "mimic":
    rates = json.loads(Path(snakemake.input.schedule).read_text())["rates"]
else:
    settings = [run[k] for k in ("lr", "max_iters", "warmup", "lr_decay_iters", "min_lr_ratio")]
    rates = schedules.rates(run["schedule"], *settings)
try:
    llm.train(
        run,
        data_dir=Path(snakemake.input.corpus[0]).parent,
        rates=rates,
        metrics_path=snakemake.output.metrics,
        checkpoint_paths=dict(zip(run["checkpoints"], snakemake.output.checkpoints, strict=True)),
        work_dir=snakemake.params.work_dir,
        threads=snakemake.threads,
    )
except Stopped as stopped:  # state saved: exit as the signal would have, so that the job is rerun
    sys.exit(stopped.exit_code)
