"""The run table: every family of a preset expanded into training runs, one per model/dataset group x lr x wd x
precision x seed, each named by one readable, deterministic ``run_id``.

Pure Python (no torch): the Snakemake process imports this module to plan the DAG.
"""

import itertools
from dataclasses import asdict, dataclass

from . import protocol

MODEL_SLUGS = {"preact_resnet18": "resnet18", "preact_resnet34": "resnet34"}
DATASET_SLUGS = {"cifar10": "c10", "cifar100": "c100"}


def fmt_number(x: float) -> str:
    """Shortest exact decimal form of a number for names: 0.1, 0.0125, 1e-5, 0 (never '1e-05' or '0.0')."""
    s = repr(float(x))
    if "e" in s:
        mantissa, exp = s.split("e")
        s = f"{mantissa.removesuffix('.0')}e{int(exp)}"
    return s.removesuffix(".0")


def run_id(
    model: str,
    dataset: str,
    lr: float,
    wd: float,
    precision: str,
    seed: int,
    momentum: float = 0.0,
    tag: str = "",
    variant: str = "",
) -> str:
    """The run's identity slug, e.g. ``resnet18_c10_lr0.08_wd0.0125_fp16_s0``; momentum, the settings that differ
    from the authors' (``protocol.variant``) and the tag only if set."""
    parts = [
        MODEL_SLUGS.get(model, model),
        DATASET_SLUGS.get(dataset, dataset),
        f"lr{fmt_number(lr)}",
        f"wd{fmt_number(wd)}",
    ]
    if momentum:
        parts.append(f"m{fmt_number(momentum)}")
    parts += [precision, f"s{seed}"]
    if variant:
        parts.append(variant)
    if tag:
        parts.append(tag)
    return "_".join(parts)


@dataclass(frozen=True)
class VisionRun:
    """Every setting of one vision training run; ``params()`` is what the training job receives."""

    preset: str
    family: str
    run_id: str
    model: str
    dataset: str
    lr: float
    wd: float
    seed: int
    precision: str
    momentum: float
    width: float
    epochs: int
    steps: int | None  # a step budget (the last epoch ends early), or None for whole epochs
    first_decay: float
    lr_flow: float
    batch_size: int
    eval_batch_size: int
    ema: tuple[float, ...]
    wd_params: str
    checkpoints: tuple[int, ...]
    sphere: bool
    eval_every: int
    resume_every: int
    device: str
    # as run or as written (plan.protocol); None where the setting does not apply to the model
    init: str
    vgg_input: str | None
    si_arch: str | None
    projection: str | None
    variant: str  # the settings above that differ from the authors' ('' = as run)

    def params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def checkpoint_epochs(spec) -> tuple[int, ...]:
    """Sorted checkpoint epochs of a config entry: a list of epochs, or {every, last, first, extra}, which means
    first, first + every, ... up to last, plus the extra epochs."""
    if isinstance(spec, dict):
        regular = range(spec.get("first", 0), spec["last"] + 1, spec["every"])
        return tuple(sorted({*regular, *spec.get("extra", [])}))
    return tuple(sorted(spec))


class SweepError(ValueError):
    """A family that cannot be expanded (for example two runs with the same run_id)."""


def expand_family(preset_name: str, preset: dict, family: str, reference: dict | None = None) -> list[VisionRun]:
    """All runs of one family, in config order (grid groups, then lr, wd, precision, seed). ``reference`` is the
    family's spec under the as-run protocol (None: ``preset`` is as run)."""
    spec = preset["families"][family]
    runs, seen = [], {}
    for g, group in enumerate(spec["grid"]):
        precisions = group.get("precision", spec["precision"])
        settings = protocol.applicable_vision(group, spec)
        as_run_group = reference["grid"][g] if reference and g < len(reference["grid"]) else group
        as_run = protocol.applicable_vision(as_run_group, reference or spec)
        variant = protocol.variant(settings, as_run, protocol.VISION_VARIANTS)
        for lr, wd, precision, seed in itertools.product(group["lr"], group["wd"], precisions, spec["seeds"]):
            rid = run_id(
                group["model"], group["dataset"], lr, wd, precision, seed, spec["momentum"], preset.get("run_tag", ""),
                variant,
            )  # fmt: skip
            if rid in seen:
                raise SweepError(f"families.{family}.grid[{g}] repeats run {rid} of grid[{seen[rid]}]")
            seen[rid] = g
            runs.append(
                VisionRun(
                    preset=preset_name,
                    family=family,
                    run_id=rid,
                    model=group["model"],
                    dataset=group["dataset"],
                    lr=float(lr),
                    wd=float(wd),
                    seed=int(seed),
                    precision=precision,
                    momentum=float(spec["momentum"]),
                    width=float(group.get("width", spec["width"])),
                    epochs=group.get("epochs", spec["epochs"]),
                    steps=spec["steps"],
                    first_decay=float(spec["first_decay"]),
                    lr_flow=float(spec["lr_flow"]),
                    batch_size=spec["batch_size"],
                    eval_batch_size=spec["eval_batch_size"],
                    ema=tuple(float(b) for b in spec["ema"]),
                    wd_params=spec["wd_params"],
                    checkpoints=checkpoint_epochs(group.get("checkpoints", spec["checkpoints"])),
                    sphere=spec["sphere"],
                    eval_every=spec["eval_every"],
                    resume_every=spec["resume_every"],
                    device=preset["device"],
                    **settings,
                    variant=variant,
                )
            )
    return runs


@dataclass(frozen=True)
class LLMRun:
    """Every setting of one language-model run; ``params()`` is what the training job receives."""

    preset: str
    family: str
    run_id: str
    model: str
    dataset: str
    context: int
    batch_size: int
    micro_batch: int
    seed: int
    lr: float
    wd: float
    l2: float
    optimizer: str
    betas: tuple[float, ...]
    momentum: float
    decay_ln: bool
    schedule: str
    warmup: int
    lr_decay_iters: int
    min_lr_ratio: float
    max_iters: int
    precision: str
    mimic: float | None  # the lambda of the mimicked run (schedule 'mimic')
    grad_clip: float
    ema: float
    eval_every: int
    eval_sequences: int
    eval_batch: int  # sequences per evaluation forward pass
    checkpoints: tuple[int, ...]
    resume_every: int
    compile: bool
    device: str
    l2_penalty: str | None  # full (c ||w||^2, as run) or half (c/2 ||w||^2, as written); None without l2
    variant: str  # the settings that differ from the authors' ('' = as run)

    def params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def llm_run_id(
    spec: dict, model, context, lr, wd, l2, decay_iters, mimic, precision, seed, max_iters, tag="", variant=""
) -> str:
    """e.g. ``gpt2_124m_owt256_lr0.0006_wd0.1_bf16_s0``; the l2 coefficient, optimizer, LayerNorm decay and a
    schedule other than the standard cosine appear only when set (``_l2-1e-5``, ``_sgdm``, ``_ln``, ``_dec60000``,
    ``_const``, ``_mimic0.1``)."""
    parts = [model, f"{spec['dataset']}{context}", f"lr{fmt_number(lr)}", f"wd{fmt_number(wd)}"]
    if l2:
        parts.append(f"l2-{fmt_number(l2)}")
    if spec["optimizer"] != "adamw":
        parts.append(spec["optimizer"])
    if spec["decay_ln"]:
        parts.append("ln")
    if spec["schedule"] == "cosine" and decay_iters != max_iters:
        parts.append(f"dec{decay_iters}")
    elif spec["schedule"] == "constant":
        parts.append("const")
    elif spec["schedule"] == "mimic":
        parts.append(f"mimic{fmt_number(mimic)}")
    parts += [precision, f"s{seed}"]
    if variant:
        parts.append(variant)
    if tag:
        parts.append(tag)
    return "_".join(parts)


def expand_llm_family(preset_name: str, preset: dict, family: str, reference: dict | None = None) -> list[LLMRun]:
    """All runs of one language-model family, in config order (grid groups, then lr, wd, l2, decay iterations,
    mimicked lambda, precision, seed). ``reference``: the family under the as-run protocol (None: this is it)."""
    spec = preset["families"][family]
    runs, seen = [], {}
    for g, group in enumerate(spec["grid"]):
        model, context = group.get("model", spec["model"]), group.get("context", spec["context"])
        mimics = group.get("mimic", [None])
        if (spec["schedule"] == "mimic") != (mimics != [None]):
            raise SweepError(f"families.{family}.grid[{g}].mimic: set it exactly when the schedule is mimic")
        axes = itertools.product(
            group["lr"],
            group["wd"],
            group.get("l2", [0.0]),
            group.get("lr_decay_iters", [spec["lr_decay_iters"]]),
            mimics,
            group.get("precision", spec["precision"]),
            group.get("seeds", spec["seeds"]),
        )
        for lr, wd, l2, decay_iters, mimic, precision, seed in axes:
            decay_iters = decay_iters or spec["max_iters"]
            settings = protocol.applicable_llm(l2, spec)
            variant = protocol.variant(settings, protocol.applicable_llm(l2, reference or spec), protocol.LLM_VARIANTS)
            rid = llm_run_id(
                spec, model, context, lr, wd, l2, decay_iters, mimic, precision, seed, spec["max_iters"],
                preset.get("run_tag", ""), variant,
            )  # fmt: skip
            if rid in seen:
                raise SweepError(f"families.{family}.grid[{g}] repeats run {rid} of grid[{seen[rid]}]")
            seen[rid] = g
            runs.append(
                LLMRun(
                    preset=preset_name,
                    family=family,
                    run_id=rid,
                    model=model,
                    dataset=spec["dataset"],
                    context=int(context),
                    batch_size=spec["batch_size"],
                    micro_batch=spec.get("micro_batch", spec["batch_size"]),
                    seed=int(seed),
                    lr=float(lr),
                    wd=float(wd),
                    l2=float(l2),
                    optimizer=spec["optimizer"],
                    betas=tuple(float(b) for b in spec["betas"]),
                    momentum=float(spec["momentum"]),
                    decay_ln=spec["decay_ln"],
                    schedule=spec["schedule"],
                    warmup=spec["warmup"],
                    lr_decay_iters=int(decay_iters),
                    min_lr_ratio=float(spec["min_lr_ratio"]),
                    max_iters=spec["max_iters"],
                    precision=precision,
                    mimic=None if mimic is None else float(mimic),
                    grad_clip=float(spec["grad_clip"]),
                    ema=float(spec["ema"]),
                    eval_every=spec["eval_every"],
                    eval_sequences=spec["eval_sequences"],
                    eval_batch=spec.get("eval_batch", spec.get("micro_batch", spec["batch_size"])),
                    checkpoints=checkpoint_epochs(spec["checkpoints"]),
                    resume_every=spec["resume_every"],
                    compile=spec["compile"],
                    device=preset["device"],
                    **settings,
                    variant=variant,
                )
            )
    return runs


def is_llm(spec: dict) -> bool:
    return spec.get("kind") == "llm"


def run_table(preset_name: str, preset: dict, reference: dict | None = None) -> dict[str, dict]:
    """{family: {run_id: run}} for every family of a preset (VisionRun or LLMRun by the family's kind).
    ``reference``: the preset under the as-run protocol, when ``preset`` is not."""
    table = {}
    for fam, spec in preset["families"].items():
        expand = expand_llm_family if is_llm(spec) else expand_family
        as_run = reference["families"].get(fam) if reference else None
        table[fam] = {r.run_id: r for r in expand(preset_name, preset, fam, as_run)}
    return table


def training_rule_groups(family: str, runs: dict) -> dict[str, tuple[tuple[int, ...], list[str]]]:
    """{rule name: (checkpoint epochs, [run_id, ...])}: one training rule per set of checkpoint epochs of a
    vision family's runs (the checkpoints are plain outputs), named train_<family>, train_<family>_2, ... in order
    of first appearance."""
    groups: dict[tuple, list[str]] = {}
    for run_id, run in runs.items():
        groups.setdefault(run.checkpoints, []).append(run_id)
    return {
        f"train_{family}" if k == 0 else f"train_{family}_{k + 1}": (epochs, run_ids)
        for k, (epochs, run_ids) in enumerate(groups.items())
    }


def llm_finetune_jobs(family: str, spec: dict, runs: list[LLMRun]) -> list[tuple[str, str, int]]:
    """(family, run_id, checkpoint iteration) of every fine-tuning (MJ8) of a language-model family: each
    checkpoint of each run when the family has a ``finetune`` entry."""
    if not is_llm(spec) or spec.get("finetune") is None:
        return []
    return [(family, r.run_id, step) for r in runs for step in r.checkpoints if step > 0]


def mimic_name(lr: float, wd: float) -> str:
    """The file stem of the schedule mimicking the runs with rate ``lr`` and WD ``wd``: mimic_lr0.0006_wd0.1."""
    return f"mimic_lr{fmt_number(lr)}_wd{fmt_number(wd)}"


@dataclass(frozen=True)
class MeasureJob:
    """Every measure of one run at one checkpoint epoch, each for its weight sets (iterate, ema<coef>, finetuned):
    one job, so that a checkpoint and its weight sets are loaded once and short jobs stay few."""

    family: str
    run_id: str
    epoch: int
    measures: tuple[tuple[str, tuple[str, ...]], ...]  # (measure, weight sets), in config order
    snapshots: tuple[int, ...] = ()  # checkpoint epochs of the snapshot ensemble (measure 'ensemble')

    @property
    def path(self) -> str:
        return f"results/{self.family}/{self.run_id}/measure/epoch{self.epoch}.parquet"

    @property
    def weights(self) -> tuple[str, ...]:
        """Every weight set some measure of the job takes."""
        return tuple(dict.fromkeys(w for _, weights in self.measures for w in weights))


def ema_name(coef: float) -> str:
    """The name of an EMA weight set, as in the tables: ema0.999."""
    return f"ema{coef:g}"


def _close(value: float, choices) -> bool:
    return any(abs(value - c) <= 1e-12 * abs(c) for c in choices)


def _matches(run: VisionRun, entry: dict) -> bool:
    return all(key not in entry or _close(getattr(run, key), entry[key]) for key in ("lr", "wd"))


def measure_jobs(family: str, spec: dict, runs: list[VisionRun]) -> list[MeasureJob]:
    """Jobs of a family's ``measure`` entries: one per run and checkpoint that some entry's ``lr``, ``wd`` and
    ``epochs`` filters keep, taking every measure asked there for the union of the weight sets asked; an
    ``ensemble`` entry measures at its last snapshot epoch. Raises SweepError naming the entry when it selects
    nothing, asks for a weight set the runs do not have, or for snapshots that are not checkpoints."""
    if is_llm(spec):
        return []
    asked: dict[tuple, dict] = {}  # (run_id, epoch) -> {measure: {weights: None}}
    snapshots: dict[tuple, tuple] = {}
    for i, entry in enumerate(spec["measure"]):
        where = f"families.{family}.measure[{i}]"
        chosen = [r for r in runs if _matches(r, entry)]
        if not chosen:
            wanted = {k: entry[k] for k in ("lr", "wd") if k in entry}
            raise SweepError(f"{where}: no run of {family} has {wanted}")
        if "finetuned" in entry["weights"] and spec.get("finetune") is None:
            raise SweepError(f"{where}.weights: 'finetuned' needs families.{family}.finetune")
        found = False
        for run in chosen:
            for weights in entry["weights"]:
                if weights.startswith("ema") and weights not in {ema_name(c) for c in run.ema}:
                    raise SweepError(f"{where}.weights: {weights!r} is not an EMA of {family} (ema: {list(run.ema)})")
            if entry["measure"] == "ensemble":
                epochs = checkpoint_epochs(entry["snapshots"])
                if missing := sorted(set(epochs) - set(run.checkpoints)):
                    raise SweepError(f"{where}.snapshots: {missing} are not checkpoints of {run.run_id}")
                if snapshots.setdefault((run.run_id, epochs[-1]), epochs) != epochs:
                    raise SweepError(f"{where}.snapshots: another ensemble of {run.run_id} ends at epoch {epochs[-1]}")
                chosen_epochs = [epochs[-1]]
            else:
                allowed = set(checkpoint_epochs(entry["epochs"])) if "epochs" in entry else set(run.checkpoints)
                chosen_epochs = [e for e in run.checkpoints if e in allowed]
            for epoch in chosen_epochs:
                found = True
                measures = asked.setdefault((run.run_id, epoch), {})
                measures.setdefault(entry["measure"], {}).update(dict.fromkeys(entry["weights"]))
        if not found:
            raise SweepError(f"{where}.epochs: none of {entry.get('epochs')} is a checkpoint of the runs it selects")
    order = {r.run_id: i for i, r in enumerate(runs)}
    return [
        MeasureJob(
            family,
            rid,
            epoch,
            tuple((measure, tuple(weights)) for measure, weights in measures.items()),
            snapshots.get((rid, epoch), ()),
        )
        for (rid, epoch), measures in sorted(asked.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    ]


def finetune_jobs(jobs: list[MeasureJob]) -> list[tuple[str, str, int]]:
    """(family, run_id, epoch) of every fine-tuning the measurements of finetuned weights need, in order."""
    return list(dict.fromkeys((j.family, j.run_id, j.epoch) for j in jobs if "finetuned" in j.weights))
