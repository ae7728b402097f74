# Training jobs: one rule per family (each family has its own checkpoint epochs, which are plain outputs), one job
# per run_id of the run table. Hyper-parameters reach the job only through `params`.

for family, runs in PLAN.runs.items():

    rule:
        name:
            f"train_{family}"
        input:
            run_data(family),
        output:
            metrics=f"results/{family}/{{run_id}}/train/metrics.parquet",
            checkpoints=expand(
                "results/{family}/{{run_id}}/ckpt/epoch{epoch}.pt",
                family=family,
                epoch=sorted(PLAN.spec["families"][family]["checkpoints"]),
            ),
        log:
            f"results/logs/{family}/{{run_id}}/train.log",
        benchmark:
            f"results/benchmarks/{family}/{{run_id}}/train.tsv"
        wildcard_constraints:
            run_id=one_of(runs),
        retries: resource("train", "retries")
        conda:
            "../../envs/torch.yaml"
        threads: resource("train", "threads")
        resources:
            **job_resources("train"),
        params:
            run=run_params(family),
            work_dir=f"results/{family}/{{run_id}}/train/.partial",
        script:
            "../scripts/train_vision.py"
