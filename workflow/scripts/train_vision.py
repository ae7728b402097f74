"""Train one vision run (see wdecay.train)."""

from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import train

run = snakemake.params.run
train.train(
    run,
    data_dir=Path(snakemake.input[0]).parent,
    metrics_path=snakemake.output.metrics,
    checkpoint_paths=dict(zip(run["checkpoints"], snakemake.output.checkpoints, strict=True)),
    work_dir=snakemake.params.work_dir,
    threads=snakemake.threads,
)
