"""Train one vision run (see wdecay.training.vision)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.training import vision
from wdecay.training.preempt import Stopped

run = snakemake.params.run
try:
    vision.train(
        run,
        data_dir=Path(snakemake.input[0]).parent,
        metrics_path=snakemake.output.metrics,
        checkpoint_paths=dict(zip(run["checkpoints"], snakemake.output.checkpoints, strict=True)),
        work_dir=snakemake.params.work_dir,
        threads=snakemake.threads,
    )
except Stopped as stopped:  # state saved: exit as the signal would have, so that the job is rerun
    sys.exit(stopped.exit_code)
