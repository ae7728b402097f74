# Jobs hanging off checkpoints: fine-tuning (MJ1) and measurements (Hessian trace, Jacobian norm, noise scale,
# Hessian/noise alignment, snapshot ensemble), every measure of a checkpoint in one job. On a cluster they form
# group jobs (`group: measure`) so that thousands of short jobs do not flood the queue.


rule finetune:
    input:
        checkpoint="results/{family}/{run_id}/ckpt/epoch{epoch}.pt",
        data=run_dataset,
    output:
        metrics="results/{family}/{run_id}/finetune/epoch{epoch}/metrics.parquet",
        model="results/{family}/{run_id}/finetune/epoch{epoch}/model.pt",
    log:
        "results/logs/{family}/{run_id}/finetune/epoch{epoch}.log",
    benchmark:
        "results/benchmarks/{family}/{run_id}/finetune/epoch{epoch}.tsv"
    wildcard_constraints:
        family=one_of({f for f, _, _ in PLAN.finetunes}),
        epoch=r"\d+",
    retries: resource("measure", "retries")
    group:
        "measure"
    conda:
        "../../envs/torch.yaml"
    threads: resource("measure", "threads")
    resources:
        **job_resources("measure"),
    params:
        run=lambda wildcards: PLAN.run(wildcards.family, wildcards.run_id).params(),
        finetune=lambda wildcards: PLAN.spec["families"][wildcards.family]["finetune"],
        work_dir="results/{family}/{run_id}/finetune/epoch{epoch}/.partial",
    script:
        "../scripts/finetune.py"


rule measure:
    input:
        unpack(measured_weights),
        data=measurement_data,
        train=run_dataset,
    output:
        "results/{family}/{run_id}/measure/epoch{epoch}.parquet",
    log:
        "results/logs/{family}/{run_id}/measure/epoch{epoch}.log",
    benchmark:
        "results/benchmarks/{family}/{run_id}/measure/epoch{epoch}.tsv"
    wildcard_constraints:
        family=one_of({job.family for job in PLAN.measures}),
        epoch=r"\d+",
    retries: resource("measure", "retries")
    group:
        "measure"
    conda:
        "../../envs/torch.yaml"
    threads: resource("measure", "threads")
    resources:
        **job_resources("measure"),
    params:
        run=lambda wildcards: PLAN.run(wildcards.family, wildcards.run_id).params(),
        measures=measures_asked,
        settings=PLAN.spec["measurement"],
    script:
        "../scripts/measure.py"
