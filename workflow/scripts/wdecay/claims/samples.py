"""Per-seed values of one configuration read from a table (``stats.Sample``), with the noise of each value
estimated from the neighbouring evaluations of the same curve (``stats.curve_noise``) or from a measurement's
standard error. Functions take pandas frames but this module does not import pandas.
"""

import math

from ..figures.curves import decay_epoch
from .stats import Sample, curve_noise, pooled_noise, probe_noise

# Evaluations a final value's noise is estimated from (the last ones, after the decay when there is one).
NOISE_POINTS = 6


def _curves(rows, column: str, x: str):
    """{seed: the column's curve over x} (mean over rows sharing a seed and x)."""
    return {int(seed): run.groupby(x)[column].mean().sort_index() for seed, run in rows.groupby("seed")}


def final(rows, column: str, x: str = "epoch", since=None, evals: int = 1) -> Sample:
    """Per seed: the mean of the last ``evals`` evaluations of ``column`` (NaN if any is); its noise is that of
    one evaluation (from the last NOISE_POINTS evaluations, those after ``since`` when given and at least 3 are)
    over sqrt(evals)."""
    values, noise = {}, {}
    for seed, curve in _curves(rows, column, x).items():
        if curve.empty:
            continue
        values[seed] = float(curve.tail(evals).mean(skipna=False))
        tail = curve[curve.index > since] if since is not None else curve
        if len(tail.dropna()) < 3:  # too few evaluations after the decay: read the last ones across it
            tail = curve  # (the step at the decay only widens the estimate)
        sd = curve_noise(tail.tail(NOISE_POINTS).tolist())
        if sd is not None:
            noise[seed] = sd / math.sqrt(min(evals, len(curve)))
    return Sample(values, noise)


def panel_noise(frames, column: str, x: str = "epoch", upto=None) -> float | None:
    """Noise sd of one evaluation of ``column`` pooled over every run of the frames (``stats.pooled_noise``):
    each run's last NOISE_POINTS evaluations after its own decay (where at least 2 are), or up to ``upto``."""
    curves = []
    for frame in frames:
        for _, run in frame.groupby("run_id"):
            curve = run.groupby(x)[column].mean().sort_index().dropna()
            if upto is not None:
                curve = curve[curve.index <= upto]
            elif x == "epoch" and "lr_now" in run:
                decay = decay_epoch(run)
                if decay is not None and (curve.index > decay).sum() >= 2:
                    curve = curve[curve.index > decay]
            curves.append(curve.tail(NOISE_POINTS).tolist())
    return pooled_noise(curves)


def tail_noise(values) -> float | None:
    """``stats.curve_noise`` of a curve's last NOISE_POINTS values (where a curve is smoothest)."""
    return curve_noise(list(values)[-NOISE_POINTS:])


def with_noise(sample: Sample, sd: float | None) -> Sample:
    """The sample with ``sd`` as the noise of every seed's value (unchanged when sd is None)."""
    return sample if sd is None else Sample(sample.values, dict.fromkeys(sample.values, sd))


def window(rows, column: str, lo, hi, x: str = "epoch") -> Sample:
    """Per seed: the mean of ``column`` over the evaluations with lo <= x <= hi; noise: one evaluation's noise
    (from the last NOISE_POINTS evaluations up to ``hi``) over sqrt(the window's number of evaluations)."""
    values, noise = {}, {}
    for seed, curve in _curves(rows, column, x).items():
        inside = curve[(curve.index >= lo) & (curve.index <= hi)].dropna()
        if inside.empty:
            continue
        values[seed] = float(inside.mean())
        sd = curve_noise(curve[curve.index <= hi].dropna().tail(NOISE_POINTS).tolist())
        if sd is not None:
            noise[seed] = sd / math.sqrt(len(inside))
    return Sample(values, noise)


def at(rows, column: str = "value", stderr: str | None = None) -> Sample:
    """Per seed: the mean of ``column`` over the rows (one evaluation or measurement); noise from ``stderr`` where
    every row has a positive one (an exact quantity, stderr 0, says nothing about the noise of a rerun), scaled
    for the number of probes (column ``samples``) as ``stats.probe_noise`` does."""
    values, noise = {}, {}
    for seed, part in rows.groupby("seed"):
        values[int(seed)] = float(part[column].mean())
        if stderr is not None and stderr in part and (part[stderr] > 0).all():
            probes = int(part["samples"].min()) if "samples" in part and part["samples"].notna().all() else None
            se = float(math.sqrt((part[stderr] ** 2).sum()) / len(part))
            noise[int(seed)] = probe_noise(se, probes)
    return Sample(values, noise)


def of(values: dict, noise: dict | None = None) -> Sample:
    return Sample(dict(values), dict(noise or {}))


def seed_means(samples: dict) -> dict:
    """{configuration: mean over its seeds} for the 'measured' text."""
    return {k: sum(s.values.values()) / len(s.values) if s.values else math.nan for k, s in samples.items()}


def per_seed(rows, fn, noise=None) -> Sample:
    """Per seed: ``fn`` of that seed's rows (skipped when None), with ``noise`` of them as its sd when given."""
    values, sds = {}, {}
    for seed, part in rows.groupby("seed"):
        value = fn(part)
        if value is None:
            continue
        values[int(seed)] = float(value)
        sd = noise(part) if noise is not None else None
        if sd is not None:
            sds[int(seed)] = float(sd)
    return Sample(values, sds)


def rise(values: dict) -> float:
    """The smallest step between neighbours ordered by key: > 0 iff strictly increasing in the key."""
    ordered = [values[k] for k in sorted(values)]
    return min(b - a for a, b in zip(ordered, ordered[1:], strict=False))


def fall(values: dict) -> float:
    """The smallest decrease between neighbours ordered by key: > 0 iff strictly decreasing in the key."""
    ordered = [values[k] for k in sorted(values)]
    return min(a - b for a, b in zip(ordered, ordered[1:], strict=False))
