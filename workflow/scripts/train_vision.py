"""Train one vision run (see wdecay.train)."""

import sys
from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import train
from wdecay.preempt import Stopped

run = snakemake.params.run
try:
    train.train(
        run,
        data_dir=Path(snakemake.input[0]).parent,
        metrics_path=snakemake.output.metrics,
        checkpoint_paths=dict(zip(run["checkpoints"], snakemake.output.checkpoints, strict=True)),
        work_dir=snakemake.params.work_dir,
        threads=snakemake.threads,
    )
except Stopped as stopped:  # state saved: exit as the signal would have, so that the job is rerun
    sys.exit(stopped.exit_code)
