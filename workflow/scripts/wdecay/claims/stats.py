"""The statistics behind every claim check: an effect in the units of its threshold, a 95% interval, and a status.

Effect. A check names configurations (a learning rate, "large LR + WD", a wd of a sweep) and a function ``f`` of
one value per configuration (a difference, a ratio, the smallest step of an ordering, a max over cells); ``f`` is
the check's inequality moved to one side, so the effect is ``f`` and the threshold is the catalogue's.

Interval, by how many seeds the configurations share:
- two or more shared seeds: ``f`` per seed (paired by seed: every family trains its configurations on the same
  seeds) and a Student t interval over those per-seed effects, t_{0.975, n-1} from ``T975``. With 2-5 seeds a
  bootstrap would have only n^n resamples and understate the spread; t is exact for normal per-seed effects.
- one seed, or configurations without a common seed: ``f`` of the configurations' means +- 1.96 sd, the sd of
  ``f`` over a seeded parametric simulation (``DRAWS`` normal draws of every mean). Centred on the estimate: the
  quantiles of a max or min over noisy cells would be biased away from it. A mean over
  several seeds has sd s/sqrt(n); a single seed's value has the noise its check estimated from neighbouring
  evaluations of the same curve (``curve_noise``: third differences, blind to a trend and its curvature) or
  the standard error of a stochastic measurement (Hutchinson probes). This is evaluation noise, not seed-to-seed
  variation, so a one-seed verdict says "larger than the curve's own noise"; the ``interval`` column says which.
  The noise of a final test error is pooled over the runs of a panel (``samples.panel_noise``: each run's last
  evaluations after its decay), as a tiny schedule leaves each run only a few of them.
  Without any noise estimate there is no interval, and the status is inconclusive.
- a rank correlation over grid cells: Fisher's z with the Spearman standard error sqrt(1.06 / (n - 3)).

Status (``status``). A directional check claims effect >= threshold (sign +1) or <= threshold (sign -1) against a
no-effect value ``null``: 0 for differences, 1 for ratios, and the threshold itself for a bound on one quantity
(train error <= 1%, a norm within +-10%), whose "no effect" is being at the bound. reproduced: the effect clears
the threshold in the claimed direction and the interval excludes ``null`` on that side; contradicted: the whole
interval lies on the wrong side of ``null``; inconclusive otherwise. A closeness check (|effect| <= tolerance)
(|effect - null| <= tolerance; null is 0, or the middle of a band such as C18's 0.01-0.04) is reproduced when
the whole interval lies within null +- tolerance and contradicted when it lies wholly outside.
A non-finite effect (a diverged loss) is inconclusive. "not enough data" is for tables that lack what a check
needs, and is set by the checks themselves.

Pure Python (no pandas, no scipy): the Snakemake process imports the claim registry.
"""

import math
import random
from dataclasses import dataclass, field

REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH = "reproduced", "contradicted", "inconclusive", "not enough data"
STATUSES = (REPRODUCED, CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH)

# t_{0.975, df} for df 1..30 (two-sided 95%); beyond 30 the Cornish-Fisher expansion around the normal quantile.
T975 = (
    *(12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131),
    *(2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042),
)
Z975 = 1.959964
DRAWS = 4000

T_SEEDS, NOISE, FISHER, NONE = "t over seeds", "evaluation noise", "Fisher z over cells", "none"


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"t quantile needs df >= 1, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Sample:
    """One configuration's value per seed, and (optionally) the noise sd of each value."""

    values: dict
    noise: dict = field(default_factory=dict)


def pooled_noise(curves) -> float | None:
    """Noise sd of one evaluation from the neighbouring evaluations of one or more curves (lists of values): the
    root mean square of each curve's k-th differences over sqrt(binomial(2k, k)), pooled over the curves, which is
    exact for white noise around any polynomial of degree < k; k = 3 (blind to a plateau, a falling loss and its
    curvature) where a curve has 4 points, else its length - 1. An sd read from m differences is itself uncertain,
    so it is scaled by t_{0.975, m} / z_{0.975}: a normal interval with it is as wide as a t interval (about 2.2x
    from one curve of 5 points). None without a difference."""
    total, count = 0.0, 0
    for values in curves:
        values = [v for v in values if math.isfinite(v)]
        k = min(3, len(values) - 1)
        if k < 1:
            continue
        diffs = values
        for _ in range(k):
            diffs = [b - a for a, b in zip(diffs, diffs[1:], strict=False)]
        total += sum(d * d for d in diffs) / math.comb(2 * k, k)
        count += len(diffs)
    return math.sqrt(total / count) * t975(count) / Z975 if count else None


def curve_noise(values) -> float | None:
    """``pooled_noise`` of one curve; None with fewer than 3 finite points."""
    return pooled_noise([values]) if sum(math.isfinite(v) for v in values) >= 3 else None


def probe_noise(stderr: float, probes: int | None) -> float:
    """A measurement's standard error over ``probes`` draws, scaled by t_{0.975, probes-1} / z as in curve_noise."""
    return stderr * (t975(probes - 1) / Z975 if probes and probes > 1 else 1.0)


@dataclass(frozen=True)
class Effect:
    """An effect, its 95% interval (NaN when none), and what it is judged against."""

    value: float
    low: float
    high: float
    threshold: float
    null: float
    kind: str  # ">=", "<=" or "within"
    unit: str = ""
    seeds: tuple = ()
    interval: str = NONE

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


def _mean(xs) -> float:
    return sum(xs) / len(xs)


def _sd(xs) -> float:
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def t_interval(xs) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% Student t interval of ``xs`` (two or more values)."""
    m = _mean(xs)
    if not all(math.isfinite(x) for x in xs):
        return m, math.nan, math.nan
    half = t975(len(xs) - 1) * _sd(xs) / math.sqrt(len(xs))
    return m, m - half, m + half


def _simulated_sd(f, means: dict, sds: dict) -> float:
    """The sd of f over DRAWS normal draws of the means (seeded, so reruns agree)."""
    rng = random.Random(0)
    draws = [f({k: rng.gauss(m, sds[k]) for k, m in means.items()}) for _ in range(DRAWS)]
    return _sd(draws)


def estimate(samples: dict, f, threshold: float, kind: str = ">=", null: float = 0.0, unit: str = "", scale=1.0):
    """The Effect of ``f`` over configurations ``samples`` ({name: Sample}); ``scale`` converts f's units into the
    threshold's (100 for fractions -> pp). See the module docstring for the interval."""
    if any(not s.values for s in samples.values()):
        return point(math.nan, threshold, kind, null, unit)
    shared = sorted(set.intersection(*(set(s.values) for s in samples.values())))
    used = tuple(sorted(set().union(*(set(s.values) for s in samples.values()))))
    if len(shared) >= 2:
        per_seed = [scale * f({k: s.values[seed] for k, s in samples.items()}) for seed in shared]
        value, low, high = t_interval(per_seed)
        return Effect(value, low, high, threshold, null, kind, unit, tuple(shared), T_SEEDS)
    means, sds = {}, {}
    for k, s in samples.items():
        xs = list(s.values.values())
        means[k] = _mean(xs)
        if len(xs) >= 2:
            sds[k] = _sd(xs) / math.sqrt(len(xs))
        elif len(xs) == 1 and s.noise.get(next(iter(s.values))) is not None:
            sds[k] = s.noise[next(iter(s.values))]
    value = scale * f(means)
    if len(sds) < len(means) or not math.isfinite(value) or not all(map(math.isfinite, means.values())):
        return Effect(value, math.nan, math.nan, threshold, null, kind, unit, used, NONE)
    half = Z975 * scale * _simulated_sd(f, means, sds)
    return Effect(value, value - half, value + half, threshold, null, kind, unit, used, NOISE)


def point(value: float, threshold: float, kind: str = ">=", null: float = 0.0, unit: str = "", seeds=()) -> Effect:
    """An effect without an interval (judged inconclusive unless the check has no data)."""
    return Effect(value, math.nan, math.nan, threshold, null, kind, unit, tuple(seeds), NONE)


def spearman_effect(rho: float, cells: int, threshold: float, kind: str, seeds=()) -> Effect:
    """Spearman rho over ``cells`` grid cells with Fisher's z interval (none with fewer than 4 cells)."""
    if cells < 4 or not math.isfinite(rho):
        return point(rho, threshold, kind, 0.0, "rho", seeds)
    z, half = math.atanh(max(min(rho, 0.999999), -0.999999)), Z975 * math.sqrt(1.06 / (cells - 3))
    return Effect(rho, math.tanh(z - half), math.tanh(z + half), threshold, 0.0, kind, "rho", tuple(seeds), FISHER)


def status(e: Effect) -> str:
    """reproduced, contradicted or inconclusive (module docstring)."""
    if not (math.isfinite(e.value) and math.isfinite(e.low) and math.isfinite(e.high)):
        return INCONCLUSIVE
    if e.kind == "within":
        lo, hi = e.null - e.threshold, e.null + e.threshold
        if lo <= e.low and e.high <= hi:
            return REPRODUCED
        return CONTRADICTED if e.low > hi or e.high < lo else INCONCLUSIVE
    sign = 1 if e.kind == ">=" else -1
    near, far = (e.low, e.high) if sign > 0 else (e.high, e.low)
    if sign * e.value >= sign * e.threshold and sign * near > sign * e.null:
        return REPRODUCED
    return CONTRADICTED if sign * far < sign * e.null else INCONCLUSIVE


def describe(e: Effect) -> str:
    """'+3.1 pp [1.2, 5.0] (t over 2 seeds) vs >= 2 pp'."""
    unit = f" {e.unit}" if e.unit else ""
    text = f"{e.value:+.3g}{unit}" if math.isfinite(e.value) else "no finite effect"
    if math.isfinite(e.low):
        basis = f"t over {e.n_seeds} seeds" if e.interval == T_SEEDS else e.interval
        text += f" [{e.low:.3g}, {e.high:.3g}] ({basis})"
    else:
        text += f" (no interval, {e.n_seeds} seed{'s' if e.n_seeds != 1 else ''})"
    if e.kind == "within":
        bound = f"|effect{f' - {e.null:g}' if e.null else ''}| <= {e.threshold:g}"
    else:
        bound = f"{e.kind} {e.threshold:g}"
    return f"{text} vs {bound}{unit}"
