# Figures: rendered from parquet tables only, with the exact data behind each saved beside it.


rule figure:
    input:
        figure_tables,
    output:
        pdf=f"{VIEW}/figures/{{figure}}.pdf",
        png=report(
            f"{VIEW}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        data=f"{VIEW}/figures/{{figure}}.data.parquet",
    log:
        f"{VIEW}/logs/figures/{{figure}}.log",
    wildcard_constraints:
        figure=one_of(PLAN.figures),
    retries: resource("report", "retries")
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    threads: resource("report", "threads")
    resources:
        **job_resources("report"),
    params:
        spec=lambda wildcards: PLAN.figures[wildcards.figure],
        caption=figure_caption,
    script:
        "../scripts/render_figure.py"
