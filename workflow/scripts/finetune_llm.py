"""Fine-tune a language-model checkpoint at a tiny constant rate (see wdecay.training.llm.finetune)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

import re

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.training import llm
from wdecay.training.preempt import Stopped

try:
    llm.finetune(
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
