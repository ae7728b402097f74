"""Fine-tune a language-model checkpoint at a tiny constant rate (see wdecay.llm_train.finetune)."""

import re
import sys
from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import llm_train
from wdecay.preempt import Stopped

try:
    llm_train.finetune(
        snakemake.params.run,
        snakemake.params.finetune,
        from_step=int(re.search(r"step(\d+)\.pt$", snakemake.input.checkpoint)[1]),
        checkpoint=snakemake.input.checkpoint,
        data_dir=Path(snakemake.input.corpus[0]).parent,
        metrics_path=snakemake.output[0],
        work_dir=snakemake.params.work_dir,
        threads=snakemake.threads,
    )
except Stopped as stopped:
    sys.exit(stopped.exit_code)
