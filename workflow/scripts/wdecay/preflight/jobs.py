"""Every model-running job of a plan, with its kind (what its cost per step or probe depends on) and its work (steps,
evaluated images, checkpoints, probes): one probe per distinct kind is timed, and the work turns its costs into
hours per job. Torch-free: the Snakemake process builds the pre-flight job's params with ``preflight_plan``.

A probe spec is what ``wdecay.preflight.probe`` runs (JSON): its kind (train, finetune, measure, llm), a
representative run's settings, the shape of the data it reads, and for measures the measure and its settings.
"""

import json

from ..plan.sweep import LLMRun, VisionRun, training_rule_groups

# Published sizes (train images, test images, side in pixels, classes); CIFAR-5m's parts hold about 1M images each.
NOMINAL_SIZES = {
    "cifar10": (50_000, 10_000, 32, 10),
    "cifar100": (50_000, 10_000, 32, 100),
    "tiny_imagenet": (100_000, 10_000, 64, 200),
}
CIFAR5M_PART = 1_000_000
VOCAB_SIZES = {"python_docs": 256, "openwebtext": 50257}  # byte-level tokens; GPT-2's BPE (tiktoken)
MEASURE_QUANTITIES = {"hessian_trace": 1, "jacobian_norm": 3, "noise_scale": 1, "hessian_noise": 3, "ensemble": 4}


def dataset_shape(datasets: dict, name: str) -> dict:
    """{train, test, side, classes} of a dataset of the preset, from its spec (no file is read)."""
    spec = datasets[name]
    source = spec["source"]
    if source == "subset":
        parent = dataset_shape(datasets, spec["of"])
        per_class = min(spec["per_class"], parent["train"] // parent["classes"])
        return parent | {"train": per_class * parent["classes"]}
    if source == "digits":
        return {"train": spec["train_size"], "test": spec["test_size"], "side": spec["size"], "classes": 10}
    if source == "cifar5m":
        train, test = spec.get("train_size") or 5 * CIFAR5M_PART, spec.get("test_size") or CIFAR5M_PART
        return {"train": train, "test": test, "side": 32, "classes": 10}
    train, test, side, classes = NOMINAL_SIZES[source]
    return {"train": train, "test": test, "side": side, "classes": classes}


def image_bytes(shape: dict) -> int:
    """uint8 bytes of both splits (what a job holds on the device and, while loading, on the host)."""
    return (shape["train"] + shape["test"]) * shape["side"] ** 2 * 3


def training_rules(family: str, runs: dict) -> dict[str, str]:
    """{run_id: training rule} of a vision family (train.smk's rules, from ``training_rule_groups``)."""
    return {run_id: rule for rule, (_, run_ids) in training_rule_groups(family, runs).items() for run_id in run_ids}


def _saves(length: int, every: int) -> int:
    """Resumable states a job saves: after every ``every``-th epoch or iteration before the last."""
    return (length - 1) // every


class _Probes:
    """Distinct probes by signature, numbered in order of appearance."""

    def __init__(self):
        self.by_key: dict[tuple, dict] = {}

    def get(self, key: tuple, kind: str, label: str, spec: dict) -> str:
        if key not in self.by_key:
            self.by_key[key] = {"id": f"{kind}{len(self.by_key) + 1}", "kind": kind, "label": label} | spec
        return self.by_key[key]["id"]


def _vision_key(run: VisionRun, shape: dict, emas: int) -> tuple:
    options = (run.sphere, run.projection if run.sphere else None, run.init, run.vgg_input, run.si_arch)
    return (
        run.model,
        run.width,
        shape["side"],
        shape["classes"],
        run.batch_size,
        run.eval_batch_size,
        run.precision,
        emas,
        *options,
    )


def _vision_label(run: VisionRun, shape: dict, emas: int) -> str:
    extra = f", {emas} EMA" if emas else ""
    sphere = f", sphere ({run.projection})" if run.sphere else ""
    width = f" x{run.width:g}" if run.width != 1 else ""
    return (
        f"{run.model}{width} {shape['side']}px/{shape['classes']} cl., batch {run.batch_size}, {run.precision}"
        f"{extra}{sphere}"
    )


def _vision_jobs(plan, family: str, probes: _Probes) -> list[dict]:
    datasets, jobs = plan.spec["datasets"], []
    runs = plan.runs[family]
    rules = training_rules(family, runs)
    for run_id, run in runs.items():
        shape = dataset_shape(datasets, run.dataset)
        per_epoch = shape["train"] // run.batch_size
        evals = {e for e in range(run.epochs + 1) if e % run.eval_every == 0} | {run.epochs, *run.checkpoints}
        sets = 1 + len(run.ema)
        key = ("train", *_vision_key(run, shape, len(run.ema)))
        label = _vision_label(run, shape, len(run.ema))
        probe = probes.get(key, "train", label, {"run": run.params(), "data": shape})
        work = {
            "steps": run.steps if run.steps is not None else run.epochs * per_epoch,
            "evals": len(evals),
            # per evaluation: each weight set on both splits, each EMA's BatchNorm pass over the full batches
            "eval_images": sets * (shape["train"] + shape["test"]) + len(run.ema) * per_epoch * run.batch_size,
            "checkpoints": len(run.checkpoints),
            "saves": len(run.checkpoints) + _saves(run.epochs, run.resume_every),
            "rows": len(evals) * sets,
            "data_bytes": image_bytes(shape),
        }
        jobs.append(
            {
                "family": family,
                "rule": rules[run_id],
                "kind": f"train {label}",
                "job": run_id,
                "probe": probe,
                "work": work,
            }
        )
    for fam, run_id, epoch in plan.finetunes:
        if fam != family:
            continue
        run, ft = runs[run_id], plan.spec["families"][family]["finetune"]
        shape = dataset_shape(datasets, run.dataset)
        key, label = ("finetune", *_vision_key(run, shape, 0)), _vision_label(run, shape, 0)  # no EMA
        probe = probes.get(key, "finetune", label, {"run": run.params(), "data": shape, "finetune": ft})
        work = {
            "steps": ft["epochs"] * (shape["train"] // run.batch_size),
            "evals": 2,  # before and after
            "eval_images": shape["train"] + shape["test"],
            "checkpoints": 0,
            "saves": 1 + _saves(ft["epochs"], run.resume_every),  # the fine-tuned model, resumable states
            "rows": 2,
            "data_bytes": image_bytes(shape),
        }
        jobs.append(
            {
                "family": family,
                "rule": "finetune",
                "kind": f"finetune {label}",
                "job": f"{run_id}@{epoch}",
                "probe": probe,
                "work": work,
            }
        )
    return jobs


def _measure_jobs(plan, family: str, probes: _Probes) -> list[dict]:
    datasets, settings, jobs = plan.spec["datasets"], plan.spec["measurement"], []
    for job in (j for j in plan.measures if j.family == family):
        run = plan.runs[family][job.run_id]
        own = dataset_shape(datasets, run.dataset)
        measured = dataset_shape(datasets, settings["data"].get(run.dataset, run.dataset))
        parts, labels = [], []
        for measure, weights in job.measures:
            # an ensemble is taken on the run's test split, every other measure on the measurement set's train split
            examples = own["test"] if measure == "ensemble" else measured["train"]
            shape = measured | {"examples": examples}
            exact = measure == "jacobian_norm" and measured["classes"] <= settings["exact_jacobian_max_classes"]
            name = f"{measure} ({'exact' if exact else 'projected'})" if measure == "jacobian_norm" else measure
            options = (run.model, run.width, run.sphere, run.init, run.vgg_input, run.si_arch)
            key = (
                "measure",
                name,
                *options,
                examples,
                shape["side"],
                shape["classes"],
                run.batch_size,
                len(job.snapshots),
            )
            label = f"{name}, {run.model} {shape['side']}px/{shape['classes']} cl., {examples} examples"
            spec = {
                "run": run.params(),
                "data": shape,
                "measure": measure,
                "settings": settings,
                "snapshots": len(job.snapshots),
            }
            parts.append(
                {
                    "probe": probes.get(key, "measure", label, spec),
                    "weights": len(weights),
                    "rows": MEASURE_QUANTITIES[measure] * len(weights),
                }
            )
            labels.append(name)
        work = {"parts": parts, "rows": sum(p["rows"] for p in parts), "data_bytes": image_bytes(measured)}
        kind = f"measure {' + '.join(labels)}, {run.model}"
        jobs.append(
            {
                "family": family,
                "rule": "measure",
                "kind": kind,
                "job": f"{job.run_id}@{job.epoch}",
                "probe": None,
                "work": work,
            }
        )
    return jobs


def _llm_key(run: LLMRun) -> tuple:
    return (run.model, run.context, run.batch_size, run.micro_batch, run.precision, run.optimizer, run.compile)


def _llm_label(run: LLMRun) -> str:
    compiled = ", compiled" if run.compile else ""
    return (
        f"{run.model} ctx {run.context}, {run.batch_size} seq. in micro-batches of {run.micro_batch}, "
        f"{run.precision}, {run.optimizer}{compiled}"
    )


def _llm_jobs(plan, family: str, probes: _Probes) -> list[dict]:
    jobs = []
    for run_id, run in plan.runs[family].items():
        vocab = VOCAB_SIZES[plan.spec["corpora"][run.dataset]["source"]]
        probe = probes.get(("llm", *_llm_key(run)), "llm", _llm_label(run), {"run": run.params(), "vocab": vocab})
        evals = {*range(0, run.max_iters + 1, run.eval_every), run.max_iters, *run.checkpoints}
        work = {
            "iters": run.max_iters,
            "evals": len(evals),
            "eval_sequences": 4 * run.eval_sequences,  # iterate and EMA on both splits
            "checkpoints": len(run.checkpoints),
            "saves": len(run.checkpoints) + _saves(run.max_iters, run.resume_every),
            "rows": len(evals),
        }
        jobs.append(
            {
                "family": family,
                "rule": f"train_{family}",
                "kind": f"train {_llm_label(run)}",
                "job": run_id,
                "probe": probe,
                "work": work,
            }
        )
    for fam, run_id, step in plan.llm_finetunes:
        if fam != family:
            continue
        run, ft = plan.runs[family][run_id], plan.spec["families"][family]["finetune"]
        vocab = VOCAB_SIZES[plan.spec["corpora"][run.dataset]["source"]]
        probe = probes.get(("llm", *_llm_key(run)), "llm", _llm_label(run), {"run": run.params(), "vocab": vocab})
        every = ft.get("eval_every") or ft["iters"]
        evals = {*range(0, ft["iters"] + 1, every), ft["iters"]}
        work = {
            "iters": ft["iters"],
            "evals": len(evals),
            "eval_sequences": 4 * run.eval_sequences,
            "checkpoints": 0,
            "saves": _saves(ft["iters"], run.resume_every),
            "rows": len(evals),
        }
        jobs.append(
            {
                "family": family,
                "rule": "finetune_llm",
                "kind": f"finetune {_llm_label(run)}",
                "job": f"{run_id}@{step}",
                "probe": probe,
                "work": work,
            }
        )
    return jobs


def preflight_plan(plan) -> dict:
    """{"probes": [probe spec, ...], "jobs": [job, ...]} of every training, fine-tuning and measurement job of
    ``plan`` (a configcheck.Plan); data, corpus and report jobs are not model jobs and are left out."""
    probes, jobs = _Probes(), []
    for family in plan.runs:
        if plan.is_llm(family):
            jobs += _llm_jobs(plan, family, probes)
        else:
            jobs += _vision_jobs(plan, family, probes) + _measure_jobs(plan, family, probes)
    return {
        "preset": plan.preset,
        "protocol": plan.protocol,
        "device": plan.spec["device"],
        "probes": list(probes.by_key.values()),
        "jobs": _grouped(jobs),
    }


def _grouped(jobs: list[dict]) -> list[dict]:
    """Jobs of equal family, rule, kind, probe and work as one entry listing their names (a small params)."""
    groups: dict[str, dict] = {}
    for job in jobs:
        key = json.dumps({k: v for k, v in job.items() if k != "job"}, sort_keys=True)
        groups.setdefault(key, {k: v for k, v in job.items() if k != "job"} | {"jobs": []})["jobs"].append(job["job"])
    return list(groups.values())
