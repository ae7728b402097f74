# Training jobs: one rule per family and set of checkpoint epochs (the checkpoints are plain outputs, and runs of
# one family may keep different ones), one job per run_id of the run table. Hyper-parameters reach the job only
# through `params`.

for family in VISION_FAMILIES:
    for rule_name, (epochs, run_ids) in training_rule_groups(
        family, PLAN.runs[family]
    ).items():

        rule:
            name:
                rule_name
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
