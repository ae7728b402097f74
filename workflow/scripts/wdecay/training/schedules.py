"""Learning-rate schedules of the language-model runs, one value per iteration (the rate of iteration ``t``, for
t = 0 .. max_iters - 1), computed once before training so that the loop only looks them up.

- cosine: linear warm-up to ``lr`` over ``warmup`` iterations, then a half cosine down to ``min_ratio * lr`` at
  ``decay_iters`` (the paper's "10x cosine": min_ratio 0.1), constant after it; ``decay_iters`` may exceed
  ``max_iters`` (ICLR Fig 19: a slower decay that never reaches the minimum).
- constant: the same warm-up, then ``lr``.
- mimic: rates read from a file (NeurIPS Fig 7: the schedule under which a run without WD has the effective rate
  of a run with WD), see ``mimic_schedule``.

Pure Python: the trainer, the schedule job and the tests share it.
"""

import bisect
import math


def warmup_cosine(t: int, lr: float, warmup: int, decay_iters: int, min_ratio: float) -> float:
    """The rate of iteration ``t`` (0-based) of a warm-up + cosine schedule."""
    if t < warmup:
        return lr * (t + 1) / (warmup + 1)
    if t >= decay_iters:
        return lr * min_ratio
    progress = (t - warmup) / max(decay_iters - warmup, 1)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def rates(kind: str, lr: float, max_iters: int, warmup: int, decay_iters: int, min_ratio: float) -> list[float]:
    """Per-iteration rates of a ``cosine`` or ``constant`` schedule."""
    if kind == "cosine":
        return [warmup_cosine(t, lr, warmup, decay_iters, min_ratio) for t in range(max_iters)]
    if kind == "constant":
        return [warmup_cosine(t, lr, warmup, decay_iters=math.inf, min_ratio=1.0) for t in range(max_iters)]
    raise ValueError(f"schedule {kind!r} is not computed from settings (cosine or constant)")


def interpolate(steps, values, t: float) -> float:
    """Piecewise-linear interpolation of logged ``values`` at ``steps`` (sorted), constant beyond the ends."""
    i = bisect.bisect_left(steps, t)  # the first logged step >= t
    if i == 0:
        return values[0]
    if i == len(steps):
        return values[-1]
    s0, s1, v0, v1 = steps[i - 1], steps[i], values[i - 1], values[i]
    return v0 + (v1 - v0) * (t - s0) / (s1 - s0)


def mimic_schedule(base_rates, steps, norm_without, norm_with) -> list[float]:
    """Rates under which a run without WD has, iteration by iteration, the effective rate eta_t / ||w_t|| of a run
    with WD: eta'_t = eta_t * ||w_t^(0)|| / ||w_t^(lambda)||, with the norms of the decayed set logged by the two
    reference runs (which share the base schedule ``base_rates``) interpolated between their evaluations.

    The run that follows this schedule is not the reference run without WD, so its own norm only approximates
    ||w_t^(0)||; the paper makes the same approximation."""
    return [
        rate * interpolate(steps, norm_without, t + 1) / interpolate(steps, norm_with, t + 1)
        for t, rate in enumerate(base_rates)
    ]
