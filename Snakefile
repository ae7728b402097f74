# Reproduction of "Why Do We Need Weight Decay in Modern Deep Learning?" (arXiv 2310.04415).
# `snakemake --cores 2` builds every figure of the default (tiny) preset; `--config preset=paper` the published
# settings. The config is validated before anything is planned (workflow/rules/common.smk).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/llm.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True
