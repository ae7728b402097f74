# Reproduction of "Why Do We Need Weight Decay in Modern Deep Learning?" (arXiv 2310.04415).
# `snakemake --cores 2` builds every figure of the default (tiny) preset; `--config preset=paper` the published
# settings. The config is validated before anything is planned (workflow/rules/common.smk).
import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")
from wdecay.io import replan, warmstart  # noqa: E402
from wdecay.plan.configcheck import ConfigError, load_yaml  # noqa: E402

# Snakemake's own message for a YAML error in config.yaml names neither file nor line: read it first. (A file
# given with --configfile is read before this Snakefile; README, Configuration, shows how to find its error.)
try:
    if os.path.exists("config.yaml"):
        load_yaml("config.yaml")
except ConfigError as error:
    raise WorkflowError(str(error)) from None


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/llm.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/preflight.smk"


# A local run of more jobs than cores: the jobs fork from one process that imported torch once, from when it is
# ready (wdecay.io.warmstart; WDECAY_WARMSTART=0 turns it off). A cluster's jobs start on their own: their
# scheduler places and accounts them. The hooks run in the main Snakemake process, once the executor is known.
onstart:
    local = workflow.local_exec and workflow.exec_mode.name == "DEFAULT"
    if (
        local
        and len(workflow.dag) > workflow.resource_settings.cores
        and os.environ.get(warmstart.ENV) != "0"
    ):
        os.environ[warmstart.ENV] = warmstart.start()


onsuccess:
    warmstart.stop(os.environ.get(warmstart.ENV, "0"))
    replan.cancel_timers()  # else Snakemake exits up to a rate-limit window (10 s) after its last job


onerror:
    warmstart.stop(os.environ.get(warmstart.ENV, "0"))
    replan.cancel_timers()


rule all:
    default_target: True
    input:
        all_targets(),
    localrule: True
