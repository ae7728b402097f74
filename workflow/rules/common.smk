# Shared by every rule: config validation, the run table, input functions and targets.
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The Snakefile put workflow/scripts on sys.path. Importing the package brings no torch into the Snakemake process.
from wdecay import claims  # noqa: E402
from wdecay.plan import configcheck  # noqa: E402
from wdecay.data import images, raw  # noqa: E402
from wdecay.plan.sweep import mimic_name, training_rule_groups  # noqa: E402

BASE = Path(workflow.basedir)
SCHEMA = configcheck.load_yaml(BASE / "workflow" / "schemas" / "config.schema.yaml")

try:
    PLAN = configcheck.make_plan(config, SCHEMA)
except configcheck.ConfigError as error:
    raise WorkflowError(str(error)) from None

PREPARED = list(images.PREPARED_FILES.values())
# Tables, figures and claims of the chosen protocol: results/ as run, results/as_written/ as written (runs of both
# share results/<family>/<run_id>/, where a run that is the same under both is one run).
VIEW = "results" if PLAN.protocol == "as_run" else f"results/{PLAN.protocol}"
VISION_TABLE = f"{VIEW}/tables/vision_train/{{family}}.parquet"
FINETUNE_TABLE = f"{VIEW}/tables/finetune/{{family}}.parquet"
MEASURE_TABLE = f"{VIEW}/tables/measure/{{family}}.parquet"
LLM_TRAIN_TABLE = f"{VIEW}/tables/llm_train/{{family}}.parquet"
LLM_FINETUNE_TABLE = f"{VIEW}/tables/llm_finetune/{{family}}.parquet"
TOKEN_FILES = [
    "train.bin",
    "val.bin",
    "meta.json",
]  # a corpus in nanoGPT's layout (wdecay.data.tokens)
LLM_FAMILIES = [f for f in PLAN.runs if PLAN.is_llm(f)]
VISION_FAMILIES = [f for f in PLAN.runs if not PLAN.is_llm(f)]
CIFAR_FOLDERS = {name: layout[0] for name, layout in images.CIFAR_LAYOUT.items()}


# Raw datasets: a download rule matches only what is missing under its default root, so data already in place is
# never fetched again (a rule's script newer than its outputs would otherwise rerun it); data missing under a root
# set elsewhere is the output of missing_raw_data, a job that stops with what to download and where to put it.
MISSING_CIFAR = raw.missing_names(raw.DEFAULT_ROOTS["cifar10"], CIFAR_FOLDERS.values())
MISSING_CIFAR5M_PARTS = raw.missing_cifar5m_parts(raw.DEFAULT_ROOTS["cifar5m"])
MISSING_TINY_IMAGENET = raw.missing_names(
    raw.DEFAULT_ROOTS["tiny_imagenet"], [images.TINY_IMAGENET_FOLDER]
)
MISSING_ELSEWHERE = {
    name: raw.missing(images.raw_inputs(spec))
    for name, spec in PLAN.spec["datasets"].items()
    if spec["source"] in raw.DEFAULT_ROOTS and not raw.downloadable(spec)
}
MISSING_ELSEWHERE = {name: paths for name, paths in MISSING_ELSEWHERE.items() if paths}


def download_setting(source, key, default):
    """A download setting (url, md5) of the preset's first dataset of ``source`` kept under its default root."""
    specs = PLAN.spec["datasets"].values()
    return next(
        (
            s[key]
            for s in specs
            if s["source"] == source and raw.downloadable(s) and key in s
        ),
        default,
    )


def missing_outputs():
    """Every raw file or folder missing under a root set elsewhere (folders marked as such)."""
    paths = {}
    for name, missing in MISSING_ELSEWHERE.items():
        folder = PLAN.spec["datasets"][name]["source"] != "cifar5m"
        paths |= {path: directory(path) if folder else path for path in missing}
    return list(paths.values())


def missing_instructions():
    """For each dataset missing under a root set elsewhere: what to download, from where, to where."""
    return [
        raw.instructions(
            name, PLAN.spec["datasets"][name], f"presets.{PLAN.preset}.datasets.{name}"
        )
        for name in MISSING_ELSEWHERE
    ]


def one_of(names):
    """A wildcard constraint matching exactly the given names (and nothing if there are none)."""
    names = list(names)
    return "|".join(map(re.escape, names)) if names else "(?!)"


def prepared(dataset):
    """The prepared-array files of a dataset of the preset."""
    return expand("results/data/{dataset}/{file}", dataset=dataset, file=PREPARED)


def dataset_inputs(wildcards):
    """What preparing a dataset reads: its raw files, the parent dataset of a subset, or nothing."""
    spec = PLAN.spec["datasets"][wildcards.dataset]
    if spec["source"] == "subset":
        return {"parent": prepared(spec["of"])}
    return {"raw": images.raw_inputs(spec)}


def run_params(family):
    """Input function: the settings of one run of ``family``, as the training job receives them."""
    return lambda wildcards: PLAN.run(family, wildcards.run_id).params()


def run_dataset(wildcards):
    """Input function: the prepared dataset of the run named by the wildcards (family, run_id)."""
    return prepared(PLAN.run(wildcards.family, wildcards.run_id).dataset)


def run_data(family):
    """Input function: the prepared dataset of one run of ``family``."""
    return lambda wildcards: prepared(PLAN.run(family, wildcards.run_id).dataset)


def measure_job(wildcards):
    return PLAN.measure_jobs[(wildcards.family, wildcards.run_id, int(wildcards.epoch))]


def measures_asked(wildcards):
    """{measure: [weight sets]} of the measurement job named by the wildcards."""
    return {m: list(weights) for m, weights in measure_job(wildcards).measures}


def measured_weights(wildcards):
    """The files holding the measured weight sets: the run's checkpoint, the fine-tuned model if measured, and
    the snapshots of an ensemble."""
    base = f"results/{wildcards.family}/{wildcards.run_id}"
    job = measure_job(wildcards)
    paths = {"checkpoint": f"{base}/ckpt/epoch{wildcards.epoch}.pt"}
    if "finetuned" in job.weights:
        paths["finetuned"] = f"{base}/finetune/epoch{wildcards.epoch}/model.pt"
    if job.snapshots:
        paths["snapshots"] = [f"{base}/ckpt/epoch{e}.pt" for e in job.snapshots]
    return paths


def measurement_data(wildcards):
    """The prepared dataset a run is measured on (measurement.data maps its training dataset, else itself)."""
    dataset = PLAN.run(wildcards.family, wildcards.run_id).dataset
    return prepared(PLAN.spec["measurement"]["data"].get(dataset, dataset))


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


def family_finetunes(wildcards):
    return [
        f"results/{family}/{run_id}/finetune/epoch{epoch}/metrics.parquet"
        for family, run_id, epoch in PLAN.finetunes
        if family == wildcards.family
    ]


def family_measures(wildcards):
    return [job.path for job in PLAN.measures if job.family == wildcards.family]


def corpus_files(corpus):
    return expand("results/data/{corpus}/{file}", corpus=corpus, file=TOKEN_FILES)


def llm_checkpoints(family):
    """Checkpoint iterations of a language-model family (the same for all its runs)."""
    return sorted(
        {step for run in PLAN.runs[family].values() for step in run.checkpoints}
    )


def llm_run_inputs(family):
    """Input function: the corpus of a language-model run, and the schedule file of a mimic run."""

    def inputs(wildcards):
        run = PLAN.run(family, wildcards.run_id)
        paths = {"corpus": corpus_files(run.dataset)}
        if run.schedule == "mimic":
            paths["schedule"] = (
                f"results/{family}/schedules/{mimic_name(run.lr, run.mimic)}.json"
            )
        return paths

    return inputs


def mimicked_runs(wildcards):
    """The training metrics of the runs a mimic schedule is computed from: the mimicked family's runs at its
    learning rate with the mimicked and the reference lambda (all seeds and precisions).
    """
    source, lr, wd, reference = PLAN.mimics[wildcards.name]
    return [
        f"results/{source}/{run.run_id}/train/metrics.parquet"
        for run in PLAN.runs[source].values()
        if run.lr == lr and run.wd in (wd, reference) and run.l2 == 0
    ]


def mimic_settings(wildcards):
    """Settings of the schedule: the mimicked runs' base schedule over the mimicking family's iterations."""
    source, lr, _, _ = PLAN.mimics[wildcards.name]
    run = next(r for r in PLAN.runs[source].values() if r.lr == lr)
    own = next(iter(PLAN.runs[wildcards.family].values()))
    return {
        "schedule": run.schedule,
        "lr": lr,
        "warmup": run.warmup,
        "lr_decay_iters": run.lr_decay_iters,
        "min_lr_ratio": run.min_lr_ratio,
        "max_iters": own.max_iters,
    }


def llm_family_finetunes(wildcards):
    return [
        f"results/{family}/{run_id}/finetune/step{step}/metrics.parquet"
        for family, run_id, step in PLAN.llm_finetunes
        if family == wildcards.family
    ]


def family_tables(family, llm_finetunes=True):
    """Every table of a family: its training metrics, and its fine-tuning and measurements where it has them
    (a language model's fine-tunings unless ``llm_finetunes`` is false)."""
    if PLAN.is_llm(family):
        paths = [LLM_TRAIN_TABLE.format(family=family)]
        if llm_finetunes and any(f == family for f, _, _ in PLAN.llm_finetunes):
            paths.append(LLM_FINETUNE_TABLE.format(family=family))
        return paths
    paths = [VISION_TABLE.format(family=family)]
    if any(f == family for f, _, _ in PLAN.finetunes):
        paths.append(FINETUNE_TABLE.format(family=family))
    if any(job.family == family for job in PLAN.measures):
        paths.append(MEASURE_TABLE.format(family=family))
    return paths


def draws_llm_finetunes(spec):
    return spec["plot"].startswith("llm_") and any(
        p.get("finetune") for p in spec["panels"]
    )


def figure_tables(figure):
    """The tables a figure draws from; a language-model figure reads fine-tunings only if a panel draws them, so
    that rebuilding it never waits for fine-tuning jobs it does not show."""
    spec = PLAN.figures[figure]
    finetunes = not spec["plot"].startswith("llm_") or draws_llm_finetunes(spec)
    return [
        path
        for family in sorted(spec["families"])
        for path in family_tables(family, finetunes)
    ]


def figure_groups():
    """{group: [figures]}: the figures that read the same tables, rendered by one job (one interpreter start and one
    pandas/seaborn import instead of one per figure, and no figure waits for a table it does not read). A group
    is named by its families ('drawings' without any), '_ft' when it draws language-model fine-tunings.
    """
    groups = {}
    for figure in PLAN.figures:
        groups.setdefault(tuple(figure_tables(figure)), []).append(figure)
    named = {}
    for figures in groups.values():
        spec = PLAN.figures[figures[0]]
        name = "_".join(sorted(spec["families"])) or "drawings"
        named[name + ("_ft" if draws_llm_finetunes(spec) else "")] = figures
    return named


FIGURE_GROUPS = figure_groups()


def claim_tables():
    """Tables of every family some claim uses and this preset trains."""
    families = sorted(claims.families() & set(PLAN.runs))
    return [path for family in families for path in family_tables(family)]


def all_targets():
    """Every figure of the preset (pdf, png and its data) and the claims table."""
    figures = expand(
        f"{VIEW}/figures/{{figure}}.{{ext}}",
        figure=PLAN.figures,
        ext=["pdf", "png", "data.parquet"],
    )
    return figures + [
        f"{VIEW}/claims.parquet",
        f"{VIEW}/claims.md",
        f"{VIEW}/claims.html",
    ]
