# Training jobs: one rule per family and set of checkpoint epochs (the checkpoints are plain outputs, and runs of
# one family may keep different ones), one job per run_id of the run table. Hyper-parameters reach the job only
# through `params`.

for family in VISION_FAMILIES:
    runs = PLAN.runs[family]
    for k, (epochs, run_ids) in enumerate(runs_by_checkpoints(runs).items()):

        rule:
            name:
                f"train_{family}" if k == 0 else f"train_{family}_{k + 1}"
            input:
                run_data(family),
            output:
                metrics=f"results/{family}/{{run_id}}/train/metrics.parquet",
                checkpoints=expand(
                    "results/{family}/{{run_id}}/ckpt/epoch{epoch}.pt",
                    family=family,
                    epoch=epochs,
                ),
            log:
                f"results/logs/{family}/{{run_id}}/train.log",
            benchmark:
                f"results/benchmarks/{family}/{{run_id}}/train.tsv"
            wildcard_constraints:
                run_id=one_of(run_ids),
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
