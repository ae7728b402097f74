# Aggregation: per-run metrics into one table per family, and the claim checks over those tables.


rule aggregate_vision_train:
    input:
        family_metrics,
    output:
        VISION_TABLE,
    log:
        f"{VIEW}/logs/tables/vision_train/{{family}}.log",
    wildcard_constraints:
        family=one_of(VISION_FAMILIES),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        table="VISION_TRAIN",
    script:
        "../scripts/aggregate_table.py"


rule aggregate_finetune:
    input:
        family_finetunes,
    output:
        FINETUNE_TABLE,
    log:
        f"{VIEW}/logs/tables/finetune/{{family}}.log",
    wildcard_constraints:
        family=one_of({f for f, _, _ in PLAN.finetunes}),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        table="FINETUNE",
    script:
        "../scripts/aggregate_table.py"


rule aggregate_measure:
    input:
        family_measures,
    output:
        MEASURE_TABLE,
    log:
        f"{VIEW}/logs/tables/measure/{{family}}.log",
    wildcard_constraints:
        family=one_of({job.family for job in PLAN.measures}),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        table="MEASURE",
    script:
        "../scripts/aggregate_table.py"


rule claims:
    input:
        claim_tables(),
    output:
        table=f"{VIEW}/claims.parquet",
        text=f"{VIEW}/claims.md",
        html=report(
            f"{VIEW}/claims.html", caption="../report/claims.rst", category="Claims"
        ),
    log:
        f"{VIEW}/logs/claims.log",
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        preset=PLAN.preset,
        protocol=PLAN.protocol,
    script:
        "../scripts/evaluate_claims.py"
