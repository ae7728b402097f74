"""The run table: every family of a preset expanded into training runs, one per model/dataset group x lr x wd x
precision x seed, each named by one readable, deterministic ``run_id``.

Pure Python (no torch): the Snakemake process imports this module to plan the DAG.
"""

import itertools
from dataclasses import asdict, dataclass

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
    model: str, dataset: str, lr: float, wd: float, precision: str, seed: int, momentum: float = 0.0, tag: str = ""
) -> str:
    """The run's identity slug, e.g. ``resnet18_c10_lr0.08_wd0.0125_fp16_s0``; momentum and tag only if set."""
    parts = [
        MODEL_SLUGS.get(model, model),
        DATASET_SLUGS.get(dataset, dataset),
        f"lr{fmt_number(lr)}",
        f"wd{fmt_number(wd)}",
    ]
    if momentum:
        parts.append(f"m{fmt_number(momentum)}")
    parts += [precision, f"s{seed}"]
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
    first_decay: float
    lr_flow: float
    batch_size: int
    eval_batch_size: int
    ema: tuple[float, ...]
    wd_params: str
    checkpoints: tuple[int, ...]
    eval_every: int
    resume_every: int
    device: str

    def params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class SweepError(ValueError):
    """A family that cannot be expanded (for example two runs with the same run_id)."""


def expand_family(preset_name: str, preset: dict, family: str) -> list[VisionRun]:
    """All runs of one family, in config order (grid groups, then lr, wd, precision, seed)."""
    spec = preset["families"][family]
    runs, seen = [], {}
    for g, group in enumerate(spec["grid"]):
        precisions = group.get("precision", spec["precision"])
        for lr, wd, precision, seed in itertools.product(group["lr"], group["wd"], precisions, spec["seeds"]):
            rid = run_id(
                group["model"], group["dataset"], lr, wd, precision, seed, spec["momentum"], preset.get("run_tag", "")
            )
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
                    epochs=spec["epochs"],
                    first_decay=float(spec["first_decay"]),
                    lr_flow=float(spec["lr_flow"]),
                    batch_size=spec["batch_size"],
                    eval_batch_size=spec["eval_batch_size"],
                    ema=tuple(float(b) for b in spec["ema"]),
                    wd_params=spec["wd_params"],
                    checkpoints=tuple(sorted(spec["checkpoints"])),
                    eval_every=spec["eval_every"],
                    resume_every=spec["resume_every"],
                    device=preset["device"],
                )
            )
    return runs


def run_table(preset_name: str, preset: dict) -> dict[str, dict[str, VisionRun]]:
    """{family: {run_id: run}} for every family of a preset."""
    return {fam: {r.run_id: r for r in expand_family(preset_name, preset, fam)} for fam in preset["families"]}
