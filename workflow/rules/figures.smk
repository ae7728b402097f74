# Figures: rendered from parquet tables only, with the exact data behind each saved beside it. One rule per group
# of figures that read the same tables (common.smk: figure_groups); every figure is still its own target.

for group, figures in FIGURE_GROUPS.items():

    rule:
        name:
            f"figures_{group}"
        input:
            figure_tables(figures[0]),
        output:
            pdf=[f"{VIEW}/figures/{figure}.pdf" for figure in figures],
            png=[
                report(
                    f"{VIEW}/figures/{figure}.png",
                    caption=f"../report/figures/{figure}.rst",
                    category="Figures",
                    labels={"figure": figure},
                )
                for figure in figures
            ],
            data=[f"{VIEW}/figures/{figure}.data.parquet" for figure in figures],
        log:
            f"{VIEW}/logs/figures/{group}.log",
        retries: resource("report", "retries")
        localrule: True
        conda:
            "../../envs/analysis.yaml"
        threads: resource("report", "threads")
        resources:
            **job_resources("report"),
        params:
            specs={figure: PLAN.figures[figure] for figure in figures},
        script:
            "../scripts/render_figures.py"
