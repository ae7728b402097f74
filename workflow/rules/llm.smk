# Language models (FIGURES.md L1-L10): token corpora, training runs (one rule per family: the checkpoints are
# plain outputs), the schedules that mimic another run's effective learning rate (L9), fine-tuning from the
# checkpoints (MJ8) and the per-family tables.


rule prepare_corpus:
    output:
        expand("results/data/{{corpus}}/{file}", file=TOKEN_FILES),
    log:
        "results/logs/data/{corpus}.log",
    wildcard_constraints:
        corpus=one_of(PLAN.spec["corpora"]),
    retries: resource("data", "retries")
    conda:
        "../../envs/torch.yaml"
    threads: resource("data", "threads")
    resources:
        **job_resources("data"),
    params:
        spec=lambda wildcards: PLAN.spec["corpora"][wildcards.corpus],
    script:
        "../scripts/prepare_corpus.py"


rule mimic_schedule:
    input:
        mimicked_runs,
    output:
        "results/{family}/schedules/{name}.json",
    log:
        "results/logs/{family}/schedules/{name}.log",
    wildcard_constraints:
        family=one_of(LLM_FAMILIES),
        name=one_of(PLAN.mimics),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        mimic=lambda wildcards: PLAN.mimics[wildcards.name],
        settings=lambda wildcards: mimic_settings(wildcards),
    script:
        "../scripts/mimic_schedule.py"


for family in LLM_FAMILIES:

    rule:
        name:
            f"train_{family}"
        input:
            unpack(llm_run_inputs(family)),
        output:
            metrics=f"results/{family}/{{run_id}}/train/metrics.parquet",
            checkpoints=expand(
                "results/{family}/{{run_id}}/ckpt/step{step}.pt",
                family=family,
                step=llm_checkpoints(family),
            ),
        log:
            f"results/logs/{family}/{{run_id}}/train.log",
        benchmark:
            f"results/benchmarks/{family}/{{run_id}}/train.tsv"
        wildcard_constraints:
            run_id=one_of(PLAN.runs[family]),
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
            "../scripts/train_llm.py"


rule finetune_llm:
    input:
        checkpoint="results/{family}/{run_id}/ckpt/step{step}.pt",
        corpus=lambda wildcards: corpus_files(
            PLAN.run(wildcards.family, wildcards.run_id).dataset
        ),
    output:
        "results/{family}/{run_id}/finetune/step{step}/metrics.parquet",
    log:
        "results/logs/{family}/{run_id}/finetune/step{step}.log",
    benchmark:
        "results/benchmarks/{family}/{run_id}/finetune/step{step}.tsv"
    wildcard_constraints:
        family=one_of({f for f, _, _ in PLAN.llm_finetunes}),
        step=r"\d+",
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
        work_dir="results/{family}/{run_id}/finetune/step{step}/.partial",
    script:
        "../scripts/finetune_llm.py"


rule aggregate_llm_train:
    input:
        family_metrics,
    output:
        LLM_TRAIN_TABLE,
    log:
        f"{VIEW}/logs/tables/llm_train/{{family}}.log",
    wildcard_constraints:
        family=one_of(LLM_FAMILIES),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        table="LLM_TRAIN",
    script:
        "../scripts/aggregate_table.py"


rule aggregate_llm_finetune:
    input:
        llm_family_finetunes,
    output:
        LLM_FINETUNE_TABLE,
    log:
        f"{VIEW}/logs/tables/llm_finetune/{{family}}.log",
    wildcard_constraints:
        family=one_of({f for f, _, _ in PLAN.llm_finetunes}),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        table="LLM_FINETUNE",
    script:
        "../scripts/aggregate_table.py"
