# Shared by every rule: config validation, the run table, input functions and targets.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")

# Importing the package brings no torch into the Snakemake process.
from wdecay import claims, configcheck, datasets  # noqa: E402

BASE = Path(workflow.basedir)
REPORT = BASE / "workflow" / "report"
SCHEMA = configcheck.load_yaml(BASE / "workflow" / "schemas" / "config.schema.yaml")

try:
    PLAN = configcheck.make_plan(config, SCHEMA)
except configcheck.ConfigError as error:
    raise WorkflowError(str(error)) from None

PREPARED = list(datasets.PREPARED_FILES.values())
VISION_TABLE = "results/tables/vision_train/{family}.parquet"
CIFAR_FOLDERS = {name: layout[0] for name, layout in datasets.CIFAR_LAYOUT.items()}


def one_of(names):
    """A wildcard constraint matching exactly the given names (and nothing if there are none)."""
    names = list(names)
    return "|".join(map(re.escape, names)) if names else "(?!)"


def prepared(dataset):
    """The prepared-array files of a dataset of the preset."""
    return expand("results/data/{dataset}/{file}", dataset=dataset, file=PREPARED)


def dataset_inputs(wildcards):
    """What preparing a dataset reads: the raw CIFAR folder, the parent dataset of a subset, or nothing."""
    spec = PLAN.spec["datasets"][wildcards.dataset]
    if spec["source"] in CIFAR_FOLDERS:
        return {"raw": f"{spec['root']}/{CIFAR_FOLDERS[spec['source']]}"}
    if spec["source"] == "subset":
        return {"parent": prepared(spec["of"])}
    return {}


def run_params(family):
    """Input function: the settings of one run of ``family``, as the training job receives them."""
    return lambda wildcards: PLAN.run(family, wildcards.run_id).params()


def run_data(family):
    """Input function: the prepared dataset of one run of ``family``."""
    return lambda wildcards: prepared(PLAN.run(family, wildcards.run_id).dataset)


def resource(kind, key):
    """A setting of the preset's resources for jobs of ``kind`` (train, data, report); defaults from the schema."""
    return PLAN.spec["resources"][kind][key]


def job_resources(kind):
    """Every resource a job of ``kind`` declares, so that a profile (`set-resources`) can override any of them.
    CPUs equal the job's threads; runtime (minutes) grows with each attempt, for jobs stopped at a time limit.
    """
    base = PLAN.spec["resources"][kind]
    return {
        "gpu": base["gpu"],
        "mem_mb": base["mem_mb"],
        "cpus_per_task": base["threads"],
        "runtime": lambda wildcards, attempt: base["runtime"] * attempt,
    }


def family_metrics(wildcards):
    return expand(
        "results/{family}/{run_id}/train/metrics.parquet",
        family=wildcards.family,
        run_id=PLAN.runs[wildcards.family],
    )


def figure_tables(wildcards):
    family = PLAN.figures[wildcards.figure]["family"]
    return [VISION_TABLE.format(family=family)]


def figure_caption(wildcards):
    """The figure's caption text (workflow/report/figures/<figure>.rst)."""
    path = REPORT / "figures" / f"{wildcards.figure}.rst"
    return path.read_text() if path.exists() else ""


def claim_tables():
    """Tables of every family some claim uses and this preset trains."""
    families = sorted(claims.families() & set(PLAN.runs))
    return expand(VISION_TABLE, family=families)


def all_targets():
    """Every figure of the preset (pdf, png and its data) and the claims table."""
    figures = expand(
        "results/figures/{figure}.{ext}",
        figure=PLAN.figures,
        ext=["pdf", "png", "data.parquet"],
    )
    return figures + ["results/claims.parquet", "results/claims.md"]
