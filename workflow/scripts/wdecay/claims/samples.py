"""Per-seed values of one configuration read from a table (``stats.Sample``), with the noise of each value
estimated from the neighbouring evaluations of the same curve (``stats.curve_noise``) or from a measurement's
standard error. Functions take pandas frames but this module does not import pandas.
"""

import math

from .stats import Sample, curve_noise, probe_noise

# Evaluations a final value's noise is estimated from (the last ones, after the decay when there is one).
NOISE_POINTS = 6


def _curves(rows, column: str, x: str):
    """{seed: the column's curve over x} (mean over rows sharing a seed and x)."""
    return {int(seed): run.groupby(x)[column].mean().sort_index() for seed, run in rows.groupby("seed")}


def final(rows, column: str, x: str = "epoch", since=None, evals: int = 1) -> Sample:
    """Per seed: the mean of the last ``evals`` evaluations of ``column`` (NaN if any is); its noise is that of
    one evaluation (from the last NOISE_POINTS evaluations, those after ``since`` when given) over sqrt(evals)."""
    values, noise = {}, {}
    for seed, curve in _curves(rows, column, x).items():
        if curve.empty:
            continue
        values[seed] = float(curve.tail(evals).mean(skipna=False))
        tail = curve[curve.index > since] if since is not None else curve
        sd = curve_noise(tail.tail(NOISE_POINTS).tolist())
        if sd is not None:
            noise[seed] = sd / math.sqrt(min(evals, len(curve)))
    return Sample(values, noise)


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


def ends(rows, column: str, x: str, last: int = 1) -> tuple[Sample, Sample]:
    """Per seed: the first evaluation of a series over ``x`` and the mean of its last ``last``; both with the
    noise of one evaluation from the series' neighbouring points (over sqrt(last) for the mean)."""
    first, final_ = {}, {}
    noise_first, noise_last = {}, {}
    for seed, curve in _curves(rows, column, x).items():
        curve = curve.dropna()
        if len(curve) < 2:
            continue
        first[seed], final_[seed] = float(curve.iloc[0]), float(curve.iloc[-last:].mean())
        sd = curve_noise(curve.tolist())
        if sd is not None:
            noise_first[seed], noise_last[seed] = sd, sd / math.sqrt(last)
    return Sample(first, noise_first), Sample(final_, noise_last)


def rise(values: dict) -> float:
    """The smallest step between neighbours ordered by key: > 0 iff strictly increasing in the key."""
    ordered = [values[k] for k in sorted(values)]
    return min(b - a for a, b in zip(ordered, ordered[1:], strict=False))


def fall(values: dict) -> float:
    """The smallest decrease between neighbours ordered by key: > 0 iff strictly decreasing in the key."""
    ordered = [values[k] for k in sorted(values)]
    return min(a - b for a, b in zip(ordered, ordered[1:], strict=False))
