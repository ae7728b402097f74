"""Fine-tune one checkpoint (see wdecay.training.finetune)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.training import finetune
from wdecay.training.preempt import Stopped

try:
    finetune.finetune(
        snakemake.params.run,
        snakemake.params.finetune,
        from_epoch=int(snakemake.wildcards.epoch),
        checkpoint=snakemake.input.checkpoint,
        data_dir=Path(snakemake.input.data[0]).parent,
        metrics_path=snakemake.output.metrics,
        model_path=snakemake.output.model,
        work_dir=snakemake.params.work_dir,
        threads=snakemake.threads,
    )
except Stopped as stopped:  # state saved: exit as the signal would have, so that the job is rerun
    sys.exit(stopped.exit_code)
