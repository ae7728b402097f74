# The pre-flight (`snakemake preflight --config preset=paper`): one short real job of every job kind of the preset
# on its device, and the bill: hours, memory, disk and the SLURM resources per rule. Not part of `all`.
from wdecay.preflight.jobs import preflight_plan  # noqa: E402

PREFLIGHT = f"{VIEW}/preflight/{PLAN.preset}"


rule preflight:
    output:
        table=f"{PREFLIGHT}.parquet",
        report=f"{PREFLIGHT}.md",
    log:
        f"{VIEW}/logs/preflight/{PLAN.preset}.log",
    conda:
        "../../envs/torch.yaml"
    threads: resource("train", "threads")
    resources:
        **job_resources("train"),
    params:
        plan=lambda wildcards: preflight_plan(PLAN),
        settings=PLAN.preflight,
    script:
        "../scripts/preflight.py"
