"""Claims C17-C30 (ICLR Figs 4-7, 14-20; NeurIPS Figs 6-8, 19-24): GPT-2 on OpenWebText with and without weight
decay. Thresholds marked (I) in FIGURES.md are the module constants below.

Tables are pandas frames of the LLM_TRAIN schema keyed by family (L1 ... L10) and of the LLM_FINETUNE schema keyed
by family:finetune. Configurations are told apart by their columns, never by the paper's values, so any preset's
grid works: "lambda 0.1" is the smallest wd > 0 of a grid, "lambda 0.3" its largest, "lr 1e-3" the largest lr and
"lr 6e-4" the next one. Iteration windows are fractions of max_iters (5k of 50k = 0.1). A run's final value is the
mean of its last FINAL_EVALS evaluations (evaluation noise is 0.005-0.01 nats), and a configuration's the mean of
its runs' (seeds'); a non-finite value stays non-finite. Divergence is claim C24's definition, evaluated on the
train_loss curve by ``divergence.diverged``.

Effects (``stats``), in nats unless said: differences of final losses (paired by seed where runs share seeds,
else from each run's evaluation noise: the third differences of its last evaluations); orderings over wd or lr as
the smallest step between neighbours (> 0 iff strictly monotone); C18's best gain against the band 0.01-0.04; the
largest |val - train| or |L_mimic - L| over evaluations; a norm's deepest dip below its running maximum (%);
divergence as a margin past C24's definition, min(highest rise above the running minimum - 1.0, last loss -
minimum - 0.5), which is >= 0 iff the run diverged (a non-finite loss counts as NONFINITE_MARGIN); C30 as the
largest, over the slower cosines, of the smaller of its two margins.

L9's mimic runs (schedule "mimic") train at wd 0 with the learning-rate schedule of an L1 run; which wd that run had
is their ``mimic`` column (mimic runs without it are left out). No pandas import here, so that the Snakemake process
can import the claim registry.
"""

import math
from functools import partial

from ..training import divergence
from . import samples
from .samples import fall, rise
from .stats import Sample, curve_noise, estimate, point
from .verdict import NOT_ENOUGH, row

ABOUT = {
    "C17": ("ICLR Fig 4, NeurIPS Fig 19", "GPT-2 has no generalisation gap: validation loss tracks train loss"),
    "C18": ("ICLR Fig 5 left, NeurIPS Fig 6", "with the cosine schedule WD ends 0.01-0.04 nats lower, though the "
            "curves cross mid-training"),
    "C19": ("ICLR Fig 5 (fine-tuned)", "after fine-tuning the loss falls with wd; a higher loss can be a better start"),
    "C20": ("ICLR Fig 5 right", "with a constant learning rate WD does not lower the loss"),
    "C21": ("ICLR Fig 6, NeurIPS Fig 7 left", "WD raises the effective learning rate lr/||w|| and lowers ||w||"),
    "C22": ("NeurIPS Fig 7 right", "wd 0 with the mimicked effective-LR schedule tracks the WD run in fp32, "
            "diverges in bf16"),
    "C23": ("ICLR Fig 17, NeurIPS Fig 23", "the gradient norm grows with wd"),
    "C24": ("ICLR Fig 7, NeurIPS Fig 8", "at a high LR, bf16 without WD diverges and WD prevents it"),
    "C25": ("ICLR Fig 20, NeurIPS Fig 24", "smaller bf16 learning rates are stable but end worse than WD at the "
            "largest"),
    "C26": ("ICLR Fig 14, NeurIPS Fig 20", "decaying the LayerNorm gains too changes little at small wd, hurts at "
            "large wd"),
    "C27": ("ICLR Fig 15, NeurIPS Fig 21", "a coupled l2 penalty beats none and comes close to AdamW's WD"),
    "C28": ("ICLR Fig 16, NeurIPS Fig 22", "WD helps SGD with momentum too"),
    "C29": ("ICLR Fig 18", "the EMA ends below the iterate with a smaller spread over wd; fine-tuning beats the EMA"),
    "C30": ("ICLR Fig 19", "a slower cosine without WD matches WD"),
}  # fmt: skip

# Final value of a run: mean of its last evaluations (FIGURES.md section 4).
FINAL_EVALS = 3
# C17 (I): |val - train| at every evaluation after the first tenth of training (5k of 50k iterations).
C17_GAP, C17_AFTER = 0.02, 0.1
# C18: the best gain of WD over wd 0 at the end (F [SL] ~0.02, range 0.01-0.04); the mid-training window (20k-30k
# of 50k) where the largest wd is above wd 0 by more than C18_CROSS (I).
C18_GAIN = (0.01, 0.04)
C18_MID = (0.4, 0.6)
C18_CROSS = 0.01
# C20 (F): with a constant learning rate wd 0 is at most this much above the best wd > 0.
C20_SLACK = 0.005
# C21 (I): the dip below its running maximum that still counts as a non-decreasing norm (wd 0, after warmup).
C21_NORM_DIP = 0.01
# C22 (I): the fp32 mimic run's distance to the run it mimics after 2k of 50k iterations, and at the end.
C22_AFTER, C22_TRACK, C22_FINAL = 0.04, 0.02, 0.01
# C26 (I): decaying the LayerNorm gains too changes the loss by at most this much at the smallest shared wd.
C26_CLOSE = 0.01
# C27 (I): coupled l2 beats wd 0 by this much and lands this close to the best AdamW wd.
C27_GAIN, C27_CLOSE = 0.01, 0.01
# C29 (I): the constant-LR EMA lands this close to the cosine iterate at the same wd.
C29_CLOSE = 0.02
# C30 (I): the slower cosine at wd 0 beats the standard one by this much and lands this close to the smallest wd.
C30_GAIN, C30_CLOSE = 0.01, 0.01

BF16 = "bf16"


def _is(values, value):
    """Mask of a float column equal to ``value`` (up to rounding)."""
    return (values - value).abs() <= 1e-9 * max(1.0, abs(value))


def _key(values: dict, key: float):
    """The key of ``values`` equal to ``key`` up to rounding, or None."""
    return next((k for k in values if math.isclose(k, key, rel_tol=1e-9, abs_tol=1e-15)), None)


def _run_final(run, column: str) -> float:
    return float(run.sort_values("step")[column].tail(FINAL_EVALS).mean(skipna=False))


def _final(rows, column: str = "train_loss") -> float:
    """Mean over the runs (seeds) of each run's mean over its last FINAL_EVALS evaluations; NaN if any is."""
    values = [_run_final(run, column) for _, run in rows.groupby("run_id")]
    return sum(values) / len(values) if values else math.nan


def _finals(frame, by: str, column: str = "train_loss") -> dict:
    """{value of ``by``: final value of ``column``} per configuration."""
    return {float(key): _final(rows, column) for key, rows in frame.groupby(by)}


def _sample(rows, column: str = "train_loss") -> Sample:
    """Per seed: the mean of the run's last FINAL_EVALS evaluations, with its noise from the neighbouring ones."""
    return samples.final(rows, column, x="step", evals=FINAL_EVALS)


def _samples(frame, by: str, column: str = "train_loss") -> dict:
    """{value of ``by``: Sample of the final value of ``column``} per configuration."""
    return {float(key): _sample(rows, column) for key, rows in frame.groupby(by)}


def _curve(rows, column: str = "train_loss"):
    """Per-step mean over the runs (seeds)."""
    return rows.groupby("step")[column].mean()


def _seeds(frame) -> str:
    counts = sorted(
        frame.groupby([c for c in ("precision", "lr", "wd", "l2", "lr_decay_iters") if c in frame]).run_id.nunique()
    )
    return f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}"


def _diverged(run) -> bool:
    run = run.sort_values("step")
    return divergence.diverged(run.step.tolist(), run.train_loss.tolist(), int(run.max_iters.iloc[0]))


def _divergences(rows) -> list[str]:
    """run_ids of the runs that diverged."""
    return [run_id for run_id, run in rows.groupby("run_id") if _diverged(run)]


def _by(name: str, values: dict, spec: str = ".4f") -> str:
    return ", ".join(f"{name} {k:g}: {v:{spec}}" for k, v in sorted(values.items()))


def _positive(values: dict) -> dict:
    return {k: v for k, v in values.items() if k > 0}


def _missing_wd(values: dict, family: str) -> str | None:
    """Why a wd sweep cannot be judged: it lacks wd 0 or any wd > 0 (None when it has both)."""
    if _key(values, 0.0) is None:
        return f"no {family} run at wd 0 (wd present: {', '.join(f'{k:g}' for k in sorted(values)) or 'none'})"
    if not _positive(values):
        return f"no {family} run with wd > 0"
    return None


def _final_label(frame) -> str:
    return f"final train loss (last {FINAL_EVALS} evals, {_seeds(frame)} seeds)"


def _gaps(runs) -> Sample:
    """Per seed: the largest |val - train| after C17_AFTER x max_iters; noise from the gap's own curve."""

    def gap(run):
        after = run[run.step > C17_AFTER * run.max_iters]
        return (after.val_loss - after.train_loss).groupby(after.step).mean().abs()

    return samples.per_seed(
        runs,
        lambda run: float(gap(run).max()) if len(gap(run)) else None,
        lambda run: samples.tail_noise(gap(run).tolist()),
    )


def c17(t, family: str) -> list[dict]:
    """ICLR Fig 4, NeurIPS Fig 19: no generalisation gap - validation and train loss agree at every evaluation after
    the first tenth of training, at every wd (124M in L1, 774M in L10)."""
    check = "validation loss tracks train loss"
    expected = f"max over wd and evals after {C17_AFTER:g} x max_iters of |val - train| <= {C17_GAP:g}"
    rows = []
    for model, panel in t[family].groupby("model"):
        scope, gaps, where = f"{family} {model}", {}, {}
        for wd, runs in panel.groupby("wd"):
            after = runs[runs.step > C17_AFTER * runs.max_iters]
            gap = (after.val_loss - after.train_loss).groupby(after.step).mean().abs()
            if len(gap):
                gaps[float(wd)], where[float(wd)] = _gaps(runs), (float(gap.max()), int(gap.idxmax()))
        if not gaps:
            rows.append(
                row("C17", check, scope, NOT_ENOUGH, f"no evaluation after {C17_AFTER:g} x max_iters", expected)
            )
            continue
        measured = "max |val - train|: " + ", ".join(f"wd {wd:g}: {g:.4f} at step {s}" for wd, (g, s) in where.items())
        effect = estimate(gaps, lambda v: max(v.values()), C17_GAP, "<=", C17_GAP, "nats")
        rows.append(row("C17", check, scope, effect, measured, expected))
    return rows


def _gain(v: dict) -> float:
    """L(wd 0) - the lowest final loss with WD (keys are wd values)."""
    return v[_key(v, 0.0)] - min(_positive(v).values())


def _every_gain(v: dict) -> float:
    """The smallest L(wd 0) - L(wd) over wd > 0: > 0 iff every wd > 0 ends below wd 0."""
    return min(v[_key(v, 0.0)] - x for x in _positive(v).values())


def c18(t) -> list[dict]:
    """ICLR Fig 5 left, NeurIPS Fig 6: with the cosine schedule every wd > 0 ends below wd 0, by 0.01-0.04 at best,
    although mid-training the largest wd is above wd 0 (the curves cross)."""
    frame, scope = t["L1"], "L1"
    final, finals = _finals(frame, "wd"), _samples(frame, "wd")
    checks = (
        ("WD lowers the final loss", "min over wd > 0 of L(0) - L(wd) > 0"),
        ("the best gain of WD is 0.01-0.04", f"{C18_GAIN[0]:g} <= L(0) - min L(wd > 0) <= {C18_GAIN[1]:g}"),
        (
            "the largest wd is above wd 0 mid-training",
            f"mean over {C18_MID[0]:g}-{C18_MID[1]:g} x max_iters: L(max wd) - L(0) > {C18_CROSS:g}",
        ),
    )
    why = _missing_wd(final, "L1")
    if why:
        return [row("C18", c, scope, NOT_ENOUGH, why, e) for c, e in checks]
    zero, pos = final[_key(final, 0.0)], _positive(final)
    measured = f"{_final_label(frame)}: {_by('wd', final)}"
    rows = [
        row("C18", checks[0][0], scope, estimate(finals, _every_gain, 0.0, ">=", 0.0, "nats"), measured, checks[0][1])
    ]
    best = min(pos, key=pos.get)
    measured += f"; gain {zero - pos[best]:.4f} (wd {best:g})"
    middle, half = (C18_GAIN[0] + C18_GAIN[1]) / 2, (C18_GAIN[1] - C18_GAIN[0]) / 2
    effect = estimate(finals, _gain, half, "within", middle, "nats")
    rows.append(row("C18", checks[1][0], scope, effect, measured, checks[1][1]))
    top = max(pos)
    max_iters = int(frame.max_iters.max())
    lo, hi = C18_MID[0] * max_iters, C18_MID[1] * max_iters
    mid = {wd: samples.window(frame[_is(frame.wd, wd)], "train_loss", lo, hi, x="step") for wd in (0.0, top)}
    if not all(s.values for s in mid.values()):
        why = f"no evaluation between {C18_MID[0]:g} and {C18_MID[1]:g} x max_iters at wd 0 and wd {top:g}"
        return rows + [row("C18", checks[2][0], scope, NOT_ENOUGH, why, checks[2][1])]
    means = samples.seed_means(mid)
    measured = f"mean train loss mid-training: {_by('wd', means)}; difference {means[top] - means[0.0]:.4f}"
    effect = estimate(mid, lambda v: v[top] - v[0.0], C18_CROSS, ">=", 0.0, "nats")
    return rows + [row("C18", checks[2][0], scope, effect, measured, checks[2][1])]


def _ft_samples(ft) -> dict:
    """{(wd, from_step): Sample of the fine-tuned loss per seed}: its last evaluation, with the noise of the
    fine-tuning curve's evaluations after the checkpoint itself (step 0)."""
    return {
        (float(w), int(s)): samples.final(rows, "train_loss", x="step", since=0)
        for (w, s), rows in ft[ft.step <= ft.ft_iters].groupby(["wd", "from_step"])
    }


def _ft_losses(ft):
    """{(wd, from_step): fine-tuned loss} (mean over seeds) and the same of the checkpoints themselves (step 0)."""
    end = ft[ft.step == ft.ft_iters].groupby(["wd", "from_step"]).train_loss.mean()
    start = ft[ft.step == 0].groupby(["wd", "from_step"]).train_loss.mean()
    return (
        {(float(w), int(s)): float(v) for (w, s), v in end.items()},
        {(float(w), int(s)): float(v) for (w, s), v in start.items()},
    )


def c19(t) -> list[dict]:
    """Fine-tuning (ICLR Fig 5 dashed, [SL]): fine-tuned from the last checkpoint the loss falls with wd, and at some
    checkpoint where the largest wd is above wd 0 it is below it after fine-tuning."""
    train, scope = t["L1"], "L1"
    end, start = _ft_losses(t["L1:finetune"])
    ft = _ft_samples(t["L1:finetune"])
    checks = (
        ("fine-tuned from the last checkpoint the loss falls with wd", "smallest decrease of L_FT between wds > 0"),
        (
            "a higher loss can be a better starting point",
            "max over checkpoints with L(max wd) > L(0) of L_FT(0) - L_FT(max wd) >= 0",
        ),
    )
    wds = sorted({w for w, _ in end})
    why = _missing_wd(dict.fromkeys(wds, 0.0), "fine-tuned L1")
    if why:
        return [row("C19", c, scope, NOT_ENOUGH, why, e) for c, e in checks]
    last = max(s for _, s in end)
    lacking = [wd for wd in wds if (wd, last) not in end]
    if lacking:
        why = f"no fine-tuning from the last checkpoint (step {last}) at wd {', '.join(f'{w:g}' for w in lacking)}"
        rows = [row("C19", checks[0][0], scope, NOT_ENOUGH, why, checks[0][1])]
    else:
        values = {wd: end[(wd, last)] for wd in wds}
        measured = f"fine-tuned from step {last} (mean over seeds): {_by('wd', values)}"
        effect = estimate({wd: ft[(wd, last)] for wd in wds}, fall, 0.0, ">=", 0.0, "nats")
        rows = [row("C19", checks[0][0], scope, effect, measured, checks[0][1])]
    zero, top = wds[0], wds[-1]
    details, higher = [], []
    for step in sorted({s for w, s in end if w == zero} & {s for w, s in end if w == top}):
        before = {}
        for wd in (zero, top):
            at = train[_is(train.wd, wd) & (train.step == step)]
            before[wd] = start.get((wd, step), float(at.train_loss.mean()) if len(at) else math.nan)
        if any(math.isnan(v) for v in before.values()):
            continue
        after = {wd: end[(wd, step)] for wd in (zero, top)}
        details.append(
            f"step {step}: before {before[zero]:.4f} (wd 0) / {before[top]:.4f} (wd {top:g}), "
            f"after {after[zero]:.4f} / {after[top]:.4f}"
        )
        if before[top] > before[zero]:
            higher.append(step)
    if not details:
        why = f"no checkpoint of wd 0 and wd {top:g} with a loss before fine-tuning"
        return rows + [row("C19", checks[1][0], scope, NOT_ENOUGH, why, checks[1][1])]
    measured = "; ".join(details) + f" ({len(higher)} checkpoints with L(wd {top:g}) > L(0) before fine-tuning)"
    if not higher:
        seeds = sorted(set().union(*(set(s.values) for s in ft.values())))
        effect = point(math.nan, 0.0, ">=", 0.0, "nats", seeds)  # the premise never holds: nothing to judge
    else:
        pairs = {(wd, s): ft[(wd, s)] for s in higher for wd in (zero, top)}
        effect = estimate(pairs, lambda v: max(v[(zero, s)] - v[(top, s)] for s in higher), 0.0, ">=", 0.0, "nats")
    return rows + [row("C19", checks[1][0], scope, effect, measured, checks[1][1])]


def c20(t) -> list[dict]:
    """ICLR Fig 5 right: with a constant learning rate WD does not lower the loss, and (I) the loss grows with wd."""
    frame, scope = t["L2"], "L2"
    final, finals = _finals(frame, "wd"), _samples(frame, "wd")
    checks = (
        ("WD does not lower the loss with a constant LR", f"L(0) - min L(wd > 0) <= {C20_SLACK:g}"),
        ("the loss grows with wd", "smallest increase of L between wds > 0"),
    )
    why = _missing_wd(final, "L2")
    if why:
        return [row("C20", c, scope, NOT_ENOUGH, why, e) for c, e in checks]
    measured = f"{_final_label(frame)}: {_by('wd', final)}"
    return [
        row("C20", checks[0][0], scope, estimate(finals, _gain, C20_SLACK, "<=", C20_SLACK, "nats"), measured,
            checks[0][1]),
        row("C20", checks[1][0], scope, estimate(finals, rise, 0.0, ">=", 0.0, "nats"), measured, checks[1][1]),
    ]  # fmt: skip


def _norm_dip(rows) -> tuple[float, int, int] | None:
    """Deepest relative dip of the seed-mean weight norm below its running maximum after warmup (the first step at
    the largest logged learning rate), with the first and last step; None with fewer than 2 evaluations."""
    lr = _curve(rows, "lr_now").dropna()
    norm = _curve(rows, "weight_norm").dropna()
    if lr.empty:
        return None
    norm = norm[norm.index >= lr.idxmax()]
    if len(norm) < 2:
        return None
    return float(1 - (norm / norm.cummax()).min()), int(norm.index[0]), int(norm.index[-1])


def _after_warmup(run):
    lr, norm = _curve(run, "lr_now").dropna(), _curve(run, "weight_norm").dropna()
    return norm[norm.index >= lr.idxmax()] if len(lr) else norm.iloc[:0]


def _dip_sample(rows) -> Sample:
    """Per seed: the norm's deepest dip below its running maximum after warmup; noise: the curve's own, relative."""

    def dip(run):
        norm = _after_warmup(run)
        return float(1 - (norm / norm.cummax()).min()) if len(norm) >= 2 else None

    def noise(run):
        norm = _after_warmup(run)
        sd = samples.tail_noise(norm.tolist())
        return None if sd is None else sd / float(norm.mean())

    return samples.per_seed(rows, dip, noise)


def c21(t, family: str) -> list[dict]:
    """ICLR Fig 6, NeurIPS Fig 7 left: at the end the effective learning rate lr/||w|| grows with wd and ||w|| falls
    with it; (I) without WD the norm does not decrease after warmup."""
    frame, scope = t[family], family
    eff, norm = _finals(frame, "wd", "eff_lr"), _finals(frame, "wd", "weight_norm")
    checks = (
        ("effective LR grows with wd", "smallest increase of final lr/||w|| between wds > 0"),
        ("weight norm falls with wd", "smallest decrease of final ||w|| between wds > 0"),
        (
            "without WD the norm does not decrease after warmup",
            f"deepest dip below its running max <= {C21_NORM_DIP:.0%}",
        ),
    )
    rows = []
    if len(eff) < 2:
        why = f"{len(eff)} wd values in {family}"
        rows += [row("C21", c, scope, NOT_ENOUGH, why, e) for c, e in checks[:2]]
    else:
        measured = f"final lr/||w||: {_by('wd', eff, '.4g')}"
        effect = estimate(_samples(frame, "wd", "eff_lr"), rise, 0.0, ">=", 0.0, "lr/||w||")
        rows.append(row("C21", checks[0][0], scope, effect, measured, checks[0][1]))
        measured = f"final ||w||: {_by('wd', norm, '.4g')}"
        effect = estimate(_samples(frame, "wd", "weight_norm"), fall, 0.0, ">=", 0.0, "||w||")
        rows.append(row("C21", checks[1][0], scope, effect, measured, checks[1][1]))
    zero = frame[_is(frame.wd, 0.0)]
    dip = _norm_dip(zero)
    if dip is None:
        why = f"no {family} run at wd 0 with >= 2 evaluations after warmup"
        return rows + [row("C21", checks[2][0], scope, NOT_ENOUGH, why, checks[2][1])]
    measured = f"wd 0, steps {dip[1]}-{dip[2]}: deepest dip {dip[0]:.2%}"
    bound = 100 * C21_NORM_DIP
    effect = estimate({"dip": _dip_sample(zero)}, lambda v: v["dip"], bound, "<=", bound, "%", 100)
    return rows + [row("C21", checks[2][0], scope, effect, measured, checks[2][1])]


def _mimic_runs(frame):
    """L9's mimic runs that say which L1 wd they mimic (a non-null ``mimic``); the others are left out."""
    if "mimic" not in frame:
        return frame.iloc[:0].assign(mimic=[])
    runs = frame[frame.schedule == "mimic"]
    return runs[runs.mimic.notna()]


def _tracking(runs, ref, after: float) -> Sample:
    """Per seed of the mimic runs: max |L_mimic - L_ref| over the shared evaluations after ``after`` (the reference
    of the same seed where there is one, else the reference's seed mean); noise from that difference's curve."""
    ref_mean = _curve(ref)

    def diff(run):
        seed = run.seed.iloc[0]
        own = ref[ref.seed == seed]
        d = (_curve(run) - (_curve(own) if len(own) else ref_mean)).dropna()
        return d[d.index > after].abs()

    return samples.per_seed(
        runs, lambda r: float(diff(r).max()) if len(diff(r)) else None, lambda r: samples.tail_noise(diff(r).tolist())
    )


def c22_tracking(t) -> list[dict]:
    """NeurIPS Fig 7 right: at full precision, wd 0 with the schedule that mimics a wd run's effective learning rate
    tracks that run's loss after the first 2k of 50k iterations and ends at its loss."""
    checks = (
        (
            "the fp32 mimic run tracks the run it mimics",
            f"max |dL| over the evals after {C22_AFTER:g} x max_iters <= {C22_TRACK:g}",
        ),
        ("the fp32 mimic run ends at the loss of the run it mimics", f"|L_mimic - L| <= {C22_FINAL:g}"),
    )
    mimic, l1 = _mimic_runs(t["L9"]), t["L1"]
    full = mimic[mimic.precision != BF16]
    if full.empty:
        why = "no L9 mimic run at fp32/tf32 with a mimicked wd (column mimic)"
        return [row("C22", c, "L9", NOT_ENOUGH, why, e) for c, e in checks]
    rows = []
    for (wd, precision), runs in full.groupby(["mimic", "precision"]):
        scope = f"L9 {precision} mimic of wd {wd:g}"
        ref = l1[_is(l1.wd, wd)]
        if (ref.precision == precision).any():
            ref = ref[ref.precision == precision]
        if ref.empty:
            rows += [row("C22", c, scope, NOT_ENOUGH, f"no L1 run at wd {wd:g}", e) for c, e in checks]
            continue
        after = C22_AFTER * int(runs.max_iters.max())
        diff = (_curve(runs) - _curve(ref)).dropna()
        diff = diff[diff.index > after].abs()
        if diff.empty:
            why = f"no evaluation step shared with L1 wd {wd:g} after {C22_AFTER:g} x max_iters"
            rows.append(row("C22", checks[0][0], scope, NOT_ENOUGH, why, checks[0][1]))
        else:
            measured = f"max |L_mimic - L(wd {wd:g})| {diff.max():.4f} at step {int(diff.idxmax())}"
            measured += f" over {len(diff)} evals"
            effect = estimate({"d": _tracking(runs, ref, after)}, lambda v: v["d"], C22_TRACK, "<=", C22_TRACK, "nats")
            rows.append(row("C22", checks[0][0], scope, effect, measured, checks[0][1]))
        pair = {"mimic": _sample(runs), "ref": _sample(ref)}
        means = samples.seed_means(pair)
        measured = f"final train loss: mimic {means['mimic']:.4f}, L1 wd {wd:g} "
        measured += f"({', '.join(sorted(ref.precision.unique()))}) {means['ref']:.4f}"
        effect = estimate(pair, lambda v: v["mimic"] - v["ref"], C22_FINAL, "within", 0.0, "nats")
        rows.append(row("C22", checks[1][0], scope, effect, measured, checks[1][1]))
    return rows


# A non-finite loss is a divergence by C24's definition; its margin counts as this many nats past the threshold.
NONFINITE_MARGIN = 10.0


def _margin(run) -> float:
    """How far a run is past C24's divergence definition, in nats: min(highest rise above the running minimum after
    divergence.AFTER x max_iters - RISE, last loss - minimum - REMAIN); >= 0 iff ``divergence.diverged``."""
    run = run.sort_values("step")
    steps, losses = run.step.tolist(), run.train_loss.tolist()
    if not all(math.isfinite(x) for x in losses):
        return NONFINITE_MARGIN
    best, peak = math.inf, -math.inf
    for step, loss in zip(steps, losses, strict=True):
        if step > divergence.AFTER * int(run.max_iters.iloc[0]):
            peak = max(peak, loss - best)
        best = min(best, loss)
    return min(peak - divergence.RISE, losses[-1] - min(losses) - divergence.REMAIN)


def _margins(runs) -> Sample:
    """Per seed: the divergence margin, with the noise of the loss curve's last evaluations."""
    return samples.per_seed(
        runs, _margin, lambda r: curve_noise(r.sort_values("step").train_loss.tail(samples.NOISE_POINTS).tolist())
    )


def _count_row(claim, check, scope, runs, diverge: bool) -> dict:
    """'every run diverges' (diverge) or 'no run diverges' over ``runs`` (several configurations allowed): the
    effect is the smallest (diverge) or largest divergence margin over the configurations, in nats."""
    expected = "divergence margin >= 0 (every seed diverges)" if diverge else "divergence margin < 0 (no seed diverges)"
    if runs.empty:
        return row(claim, check, scope, NOT_ENOUGH, f"no run of {scope}", expected)
    n, gone = runs.run_id.nunique(), _divergences(runs)
    measured = f"{len(gone)}/{n} runs diverge" + (f" ({', '.join(gone)})" if gone and not diverge else "")
    keys = [c for c in ("precision", "lr", "wd") if c in runs]
    configs = {key: _margins(part) for key, part in runs.groupby(keys)}
    if diverge:
        effect = estimate(configs, lambda v: min(v.values()), 0.0, ">=", 0.0, "nats")
    else:
        effect = estimate(configs, lambda v: max(v.values()), 0.0, "<=", 0.0, "nats")
    return row(claim, check, scope, effect, measured, expected)


def c22_divergence(t) -> list[dict]:
    """NeurIPS Fig 7 right: in bf16 the mimic run diverges."""
    check = "the bf16 mimic run diverges"
    mimic = _mimic_runs(t["L9"])
    half = mimic[mimic.precision == BF16]
    if half.empty:
        why = "no bf16 L9 mimic run with a mimicked wd (column mimic)"
        return [row("C22", check, "L9 bf16", NOT_ENOUGH, why, "every seed diverges (C24's definition)")]
    return [_count_row("C22", check, f"L9 bf16 mimic of wd {wd:g}", runs, True) for wd, runs in half.groupby("mimic")]


def c23(t, family: str) -> list[dict]:
    """ICLR Fig 17, NeurIPS Fig 23 (I): at the end the (pre-clip) gradient norm grows with wd, the inverse of the
    weight norm's order."""
    frame, scope = t[family], family
    check, expected = "gradient norm grows with wd", "smallest increase of the final grad norm between wds > 0"
    grad, norm = _finals(frame, "wd", "grad_norm"), _finals(frame, "wd", "weight_norm")
    if len(grad) < 2:
        return [row("C23", check, scope, NOT_ENOUGH, f"{len(grad)} wd values in {family}", expected)]
    measured = f"final grad norm: {_by('wd', grad, '.4g')}; final ||w||: {_by('wd', norm, '.4g')}"
    effect = estimate(_samples(frame, "wd", "grad_norm"), rise, 0.0, ">=", 0.0, "grad norm")
    return [row("C23", check, scope, effect, measured, expected)]


def _l8_grid(frame):
    """bf16 runs, full-precision runs, the bf16 learning rates (increasing) of family L8."""
    half = frame[frame.precision == BF16]
    return half, frame[frame.precision != BF16], sorted(float(lr) for lr in half.lr.unique())


def _smallest_wd(runs) -> float | None:
    return min((float(wd) for wd in runs.wd.unique() if wd > 0), default=None)


def c24(t) -> list[dict]:
    """ICLR Fig 7, NeurIPS Fig 8: at the largest learning rate wd 0 diverges in bf16 but not at full precision, and
    the smallest wd > 0 does not diverge in bf16 and ends below the next learning rate at wd 0, which does not."""
    half, full, lrs = _l8_grid(t["L8"])
    if not lrs:
        return [row("C24", "all", "L8", NOT_ENOUGH, "no bf16 run", "")]
    top = lrs[-1]
    at_top = half[_is(half.lr, top)]
    small = _smallest_wd(at_top)
    full_top = full[_is(full.lr, top) & _is(full.wd, 0.0)]
    precision = "/".join(sorted(full_top.precision.unique())) or "fp32"
    zero_top = at_top[_is(at_top.wd, 0.0)]
    rows = [
        _count_row("C24", "bf16 without WD diverges at the largest lr", f"L8 bf16 lr {top:g} wd 0", zero_top, True),
        _count_row(
            "C24",
            "full precision without WD does not diverge at the largest lr",
            f"L8 {precision} lr {top:g} wd 0",
            full_top,
            False,
        ),
    ]
    check = "bf16 with WD does not diverge at the largest lr"
    if small is None:
        rows.append(row("C24", check, f"L8 bf16 lr {top:g}", NOT_ENOUGH, f"no run with wd > 0 at lr {top:g}", ""))
    else:
        rows.append(_count_row("C24", check, f"L8 bf16 lr {top:g} wd {small:g}", at_top[_is(at_top.wd, small)], False))
    check, expected = (
        "with WD the largest lr ends below the next lr without WD",
        "L(next lr, 0) - L(top lr, min wd > 0) > 0",
    )
    nxt = half[_is(half.lr, lrs[-2]) & _is(half.wd, 0.0)] if len(lrs) > 1 else half.iloc[:0]
    if small is None or nxt.empty:
        why = "one bf16 learning rate" if len(lrs) < 2 else "no run with wd > 0 at the largest lr or wd 0 at the next"
        rows.append(row("C24", check, "L8 bf16", NOT_ENOUGH, why, expected))
        rows.append(row("C24", "bf16 at the next lr without WD does not diverge", "L8 bf16", NOT_ENOUGH, why, ""))
        return rows
    pair = {"mine": _sample(at_top[_is(at_top.wd, small)]), "theirs": _sample(nxt)}
    means = samples.seed_means(pair)
    measured = f"final train loss: lr {top:g} wd {small:g}: {means['mine']:.4f}, lr {lrs[-2]:g} wd 0: "
    measured += f"{means['theirs']:.4f}"
    effect = estimate(pair, lambda v: v["theirs"] - v["mine"], 0.0, ">=", 0.0, "nats")
    rows.append(row("C24", check, "L8 bf16", effect, measured, expected))
    scope = f"L8 bf16 lr {lrs[-2]:g} wd 0"
    return rows + [_count_row("C24", "bf16 at the next lr without WD does not diverge", scope, nxt, diverge=False)]


def c25(t) -> list[dict]:
    """ICLR Fig 20, NeurIPS Fig 24: in bf16 every smaller learning rate avoids divergence but ends above the best WD
    run of the largest one; at the smallest wd > 0 the final weight norm grows with the learning rate."""
    half, _, lrs = _l8_grid(t["L8"])
    checks = (
        ("bf16 below the largest lr does not diverge", "largest divergence margin below the top lr < 0"),
        (
            "bf16 below the largest lr ends above its best WD run",
            "min over lr < top, any wd of L - min over wd > 0 of L(top lr, wd) > 0",
        ),
        ("at the smallest wd the final norm grows with lr", "smallest increase of final ||w|| between lrs > 0"),
    )
    if len(lrs) < 2:
        return [row("C25", c, "L8 bf16", NOT_ENOUGH, f"{len(lrs)} bf16 learning rates", e) for c, e in checks]
    top = lrs[-1]
    lower = half[half.lr < top]
    rows = [_count_row("C25", checks[0][0], f"L8 bf16 lr < {top:g}", lower, diverge=False)]
    wd_top = _positive(_finals(half[_is(half.lr, top)], "wd"))
    if not wd_top:
        rows.append(row("C25", checks[1][0], "L8 bf16", NOT_ENOUGH, f"no run with wd > 0 at lr {top:g}", checks[1][1]))
    else:
        best = min(wd_top, key=wd_top.get)
        finals = {(float(lr), float(wd)): _final(r) for (lr, wd), r in lower.groupby(["lr", "wd"])}
        low = min(finals, key=lambda k: finals[k] if not math.isnan(finals[k]) else -math.inf)
        measured = f"best at lr {top:g}: wd {best:g} {wd_top[best]:.4f}; lowest below: lr {low[0]:g} wd {low[1]:g} "
        measured += f"{finals[low]:.4f} ({len(finals)} configurations)"
        configs = {("below", lr, wd): _sample(r) for (lr, wd), r in lower.groupby(["lr", "wd"])}
        top_runs = half[_is(half.lr, top) & (half.wd > 0)]
        configs |= {("top", top, float(wd)): _sample(r) for wd, r in top_runs.groupby("wd")}

        def margin(v):
            return min(x for k, x in v.items() if k[0] == "below") - min(x for k, x in v.items() if k[0] == "top")

        rows.append(row("C25", checks[1][0], "L8 bf16", estimate(configs, margin, 0.0, ">=", 0.0, "nats"), measured,
                        checks[1][1]))  # fmt: skip
    small = _smallest_wd(half)
    at_small = half[_is(half.wd, small)] if small is not None else half.iloc[:0]
    norm = _finals(at_small, "lr", "weight_norm")
    if len(norm) < 2:
        why = f"final norms at {len(norm)} learning rates at the smallest wd > 0"
        return rows + [row("C25", checks[2][0], "L8 bf16", NOT_ENOUGH, why, checks[2][1])]
    measured = f"final ||w|| at wd {small:g}: {_by('lr', norm, '.4g')}"
    effect = estimate(_samples(at_small, "lr", "weight_norm"), rise, 0.0, ">=", 0.0, "||w||")
    return rows + [row("C25", checks[2][0], f"L8 bf16 wd {small:g}", effect, measured, checks[2][1])]


def c26(t) -> list[dict]:
    """ICLR Fig 14, NeurIPS Fig 20: decaying the LayerNorm gains too changes little at a small wd and hurts at a large
    one, against L1 at the same wd."""
    std, l4 = t["L1"], t["L4"]
    std, l4 = std[~std.decay_ln.astype(bool)], l4[l4.decay_ln.astype(bool)]
    std_final, all_final = _finals(std, "wd"), _finals(l4, "wd")
    shared = sorted(wd for wd in _positive(all_final) if _key(std_final, wd) is not None)
    checks = (
        ("decaying LayerNorm too changes little at the smallest shared wd", f"|L_all - L_std| <= {C26_CLOSE:g}"),
        ("decaying LayerNorm too hurts at the largest shared wd", "L_all - L_std > 0"),
    )
    if not shared:
        why = "no wd > 0 in both L4 (decay_ln) and L1"
        return [row("C26", c, "L4 vs L1", NOT_ENOUGH, why, e) for c, e in checks]
    rows = []
    for (check, expected), wd in zip(checks, (shared[0], shared[-1]), strict=True):
        scope = f"L4 vs L1 wd {wd:g}"
        if check == checks[1][0] and len(shared) < 2:
            rows.append(row("C26", check, scope, NOT_ENOUGH, f"one wd shared by L4 and L1 ({wd:g})", expected))
            continue
        mine, theirs = all_final[wd], std_final[_key(std_final, wd)]
        pair = {"all": _sample(l4[_is(l4.wd, wd)]), "std": _sample(std[_is(std.wd, wd)])}
        if check == checks[0][0]:
            effect = estimate(pair, lambda v: v["all"] - v["std"], C26_CLOSE, "within", 0.0, "nats")
        else:
            effect = estimate(pair, lambda v: v["all"] - v["std"], 0.0, ">=", 0.0, "nats")
        measured = f"final train loss: with LayerNorm {mine:.4f}, without {theirs:.4f}"
        rows.append(row("C26", check, scope, effect, measured, expected))
    return rows


def c27(t) -> list[dict]:
    """ICLR Fig 15, NeurIPS Fig 21: a coupled l2 penalty (at wd 0) beats no regularisation and lands close to the
    best AdamW weight decay."""
    l5, l1 = t["L5"], t["L1"]
    coupled = l5[(l5.l2 > 0) & _is(l5.wd, 0.0)]
    l2 = _finals(coupled, "l2")
    adamw = _finals(l1, "wd")
    checks = (
        ("coupled l2 beats no regularisation", f"L(AdamW wd 0) - min over l2 of L >= {C27_GAIN:g}"),
        ("coupled l2 is close to the best AdamW wd", f"|min over l2 of L - min over wd > 0 of L| <= {C27_CLOSE:g}"),
    )
    why = "no L5 run with l2 > 0 at wd 0" if not l2 else _missing_wd(adamw, "L1")
    if why:
        return [row("C27", c, "L5 vs L1", NOT_ENOUGH, why, e) for c, e in checks]
    zero, pos = adamw[_key(adamw, 0.0)], _positive(adamw)
    best_wd = min(pos, key=pos.get)
    measured = (
        f"final train loss: {_by('l2', l2)}; AdamW wd 0: {zero:.4f}, best AdamW wd {best_wd:g}: {pos[best_wd]:.4f}"
    )
    configs = {("l2", k): s for k, s in _samples(coupled, "l2").items()}
    configs |= {("wd", k): s for k, s in _samples(l1, "wd").items()}

    def best_of(v, kind, positive=True):
        return min(x for (k, c), x in v.items() if k == kind and (c > 0 or not positive))

    def gain(v):
        return v[("wd", _key(adamw, 0.0))] - best_of(v, "l2")

    def gap(v):
        return best_of(v, "l2") - best_of(v, "wd")

    return [
        row("C27", checks[0][0], "L5 vs L1", estimate(configs, gain, C27_GAIN, ">=", 0.0, "nats"), measured,
            checks[0][1]),
        row("C27", checks[1][0], "L5 vs L1", estimate(configs, gap, C27_CLOSE, "within", 0.0, "nats"), measured,
            checks[1][1]),
    ]  # fmt: skip


def c28(t) -> list[dict]:
    """ICLR Fig 16, NeurIPS Fig 22: with SGD + momentum some wd > 0 ends below wd 0."""
    frame = t["L6"]
    sgdm = frame[frame.optimizer == "sgdm"]
    final = _finals(sgdm, "wd")
    check, expected = "WD helps SGD with momentum", "L(0) - min over wd > 0 of L > 0"
    why = _missing_wd(final, "L6 sgdm")
    if why:
        return [row("C28", check, "L6", NOT_ENOUGH, why, expected)]
    effect = estimate(_samples(sgdm, "wd"), _gain, 0.0, ">=", 0.0, "nats")
    return [row("C28", check, "L6", effect, f"{_final_label(frame)}: {_by('wd', final)}", expected)]


def _ema_gain(rows) -> Sample:
    """Per seed: final L(w_t) - final L(EMA), with the noise of that difference's curve."""

    def diff(run):
        run = run.sort_values("step")
        return (run.train_loss - run.ema_train_loss).tolist()

    return samples.per_seed(
        rows,
        lambda r: _run_final(r, "train_loss") - _run_final(r, "ema_train_loss"),
        lambda r: None if (sd := curve_noise(diff(r)[-samples.NOISE_POINTS :])) is None else sd / FINAL_EVALS**0.5,
    )


def _spread_gap(v: dict) -> float:
    """spread over wd of L(w_t) - that of L(EMA) (keys (weights, wd))."""
    spread = {w: max(x for (k, _), x in v.items() if k == w) - min(x for (k, _), x in v.items() if k == w)
              for w in ("ema", "it")}  # fmt: skip
    return spread["it"] - spread["ema"]


def c29_ema(t, family: str) -> list[dict]:
    """ICLR Fig 18: the EMA of the weights ends below the iterate in every run, and its spread across wd is smaller."""
    frame, scope = t[family], family
    checks = (
        ("the EMA ends below the iterate", "min over wd of final L(w_t) - L(EMA) > 0"),
        ("the EMA's spread across wd is smaller", "(max - min over wd of L(w_t)) - (that of L(EMA)) > 0"),
    )
    runs = [(_run_final(r, "ema_train_loss"), _run_final(r, "train_loss")) for _, r in frame.groupby("run_id")]
    ema, it = _finals(frame, "wd", "ema_train_loss"), _finals(frame, "wd", "train_loss")
    below = sum(e < w for e, w in runs)
    listed = ", ".join(f"wd {wd:g}: {ema[wd]:.4f} vs {it[wd]:.4f}" for wd in sorted(ema))
    measured = f"{below}/{len(runs)} runs; final EMA vs iterate loss (mean over seeds): {listed}"
    gains = {float(wd): _ema_gain(part) for wd, part in frame.groupby("wd")}
    effect = estimate(gains, lambda v: min(v.values()), 0.0, ">=", 0.0, "nats")
    rows = [row("C29", checks[0][0], scope, effect, measured, checks[0][1])]
    if len(ema) < 2:
        return rows + [row("C29", checks[1][0], scope, NOT_ENOUGH, f"{len(ema)} wd values", checks[1][1])]
    spread_ema, spread_it = max(ema.values()) - min(ema.values()), max(it.values()) - min(it.values())
    measured = f"spread over {len(ema)} wd: EMA {spread_ema:.4f}, iterate {spread_it:.4f}"
    configs = {("ema", k): s for k, s in _samples(frame, "wd", "ema_train_loss").items()}
    configs |= {("it", k): s for k, s in _samples(frame, "wd", "train_loss").items()}
    effect = estimate(configs, _spread_gap, 0.0, ">=", 0.0, "nats")
    return rows + [row("C29", checks[1][0], scope, effect, measured, checks[1][1])]


def c29_finetune(t, family: str) -> list[dict]:
    """ICLR Fig 18: fine-tuning a checkpoint ends below the EMA at that checkpoint."""
    train, scope = t[family], family
    check, expected = "fine-tuning beats the EMA", "min over fine-tuned checkpoints of L(EMA) - L_FT > 0"
    end, _ = _ft_losses(t[f"{family}:finetune"])
    ft = _ft_samples(t[f"{family}:finetune"])
    margins, configs = {}, {}
    for (wd, step), ft_loss in end.items():
        at = train[_is(train.wd, wd) & (train.step == step)]
        if len(at):
            margins[(wd, step)] = (float(at.ema_train_loss.mean()) - ft_loss, ft_loss)
            upto = train[_is(train.wd, wd) & (train.step <= step)]
            configs[("ema", wd, step)] = samples.final(upto, "ema_train_loss", x="step")
            configs[("ft", wd, step)] = ft[(wd, step)]
    if not margins:
        return [row("C29", check, scope, NOT_ENOUGH, "no EMA evaluation at a fine-tuned checkpoint", expected)]
    (wd, step), (margin, ft_loss) = min(margins.items(), key=lambda kv: kv[1][0])
    measured = (
        f"{sum(m > 0 for m, _ in margins.values())}/{len(margins)} checkpoints; smallest L(EMA) - L_FT {margin:.4f} "
        f"at wd {wd:g} step {step} (L_FT {ft_loss:.4f})"
    )
    keys = list(margins)
    effect = estimate(configs, lambda v: min(v[("ema", *k)] - v[("ft", *k)] for k in keys), 0.0, ">=", 0.0, "nats")
    return [row("C29", check, scope, effect, measured, expected)]


def c29_constant(t) -> list[dict]:
    """ICLR Fig 18 (I): a constant learning rate with the EMA lands close to the cosine iterate at the same wd."""
    check, expected = (
        "constant LR + EMA lands near the cosine iterate",
        f"max over wd |L2 L(EMA) - L1 L(w_t)| <= {C29_CLOSE:g}",
    )
    cosine, constant = _finals(t["L1"], "wd"), _finals(t["L2"], "wd", "ema_train_loss")
    shared = {wd: (constant[wd], cosine[_key(cosine, wd)]) for wd in constant if _key(cosine, wd) is not None}
    if not shared:
        return [row("C29", check, "L2 vs L1", NOT_ENOUGH, "no wd shared by L1 and L2", expected)]
    measured = "final EMA (constant) vs iterate (cosine): "
    measured += ", ".join(f"wd {wd:g}: {a:.4f} vs {b:.4f}" for wd, (a, b) in sorted(shared.items()))
    cos_s, const_s = _samples(t["L1"], "wd"), _samples(t["L2"], "wd", "ema_train_loss")
    configs = {("const", wd): const_s[wd] for wd in shared} | {("cos", wd): cos_s[_key(cos_s, wd)] for wd in shared}
    effect = estimate(
        configs, lambda v: max(abs(v[("const", wd)] - v[("cos", wd)]) for wd in shared), C29_CLOSE, "<=", C29_CLOSE,
        "nats",
    )  # fmt: skip
    return [row("C29", check, "L2 vs L1", effect, measured, expected)]


def c30(t) -> list[dict]:
    """ICLR Fig 19: at wd 0 some slower cosine (decaying over more than max_iters) beats the standard one by 0.01
    and lands within 0.01 of the smallest wd > 0. The effect is, over the slower cosines, the largest margin by
    which both conditions hold: min(L(wd 0) - L - C30_GAIN, C30_CLOSE - |L - L(min wd)|) (>= 0 iff both hold)."""
    l7, l1 = t["L7"], t["L1"]
    check = "a slower cosine without WD matches WD"
    expected = f"some lr_decay_iters > max_iters: L <= L(wd 0) - {C30_GAIN:g} and |L - L(min wd > 0)| <= {C30_CLOSE:g}"
    slow = l7[_is(l7.wd, 0.0) & (l7.lr_decay_iters > l7.max_iters)]
    standard = l1[l1.lr_decay_iters == l1.max_iters]
    final = _finals(standard, "wd")
    why = "no L7 run at wd 0 with lr_decay_iters > max_iters" if slow.empty else _missing_wd(final, "L1 (standard)")
    if why:
        return [row("C30", check, "L7 vs L1", NOT_ENOUGH, why, expected)]
    zero, small = final[_key(final, 0.0)], min(_positive(final))
    slower = _finals(slow, "lr_decay_iters")
    max_iters = int(slow.max_iters.max())
    measured = "final train loss: " + ", ".join(
        f"lr_decay_iters {k:g} ({k / max_iters:.2f} x max_iters): {v:.4f}" for k, v in sorted(slower.items())
    )
    measured += f"; L1 wd 0: {zero:.4f}, wd {small:g}: {final[small]:.4f}"
    std_s = _samples(standard, "wd")
    configs = {("slow", k): s for k, s in _samples(slow, "lr_decay_iters").items()}
    configs |= {("zero",): std_s[_key(std_s, 0.0)], ("small",): std_s[_key(std_s, small)]}

    def margin(v):
        return max(
            min(v[("zero",)] - x - C30_GAIN, C30_CLOSE - abs(x - v[("small",)])) for k, x in v.items() if k[0] == "slow"
        )

    effect = estimate(configs, margin, 0.0, ">=", 0.0, "nats")
    return [row("C30", check, "L7 vs L1", effect, measured, expected)]


# claim: [(tables it reads, check), ...]; a claim with variants per family, so that a missing family only leaves
# its own variant without data.
CLAIMS = {
    "C17": [(("L1",), partial(c17, family="L1")), (("L10",), partial(c17, family="L10"))],
    "C18": [(("L1",), c18)],
    "C19": [(("L1", "L1:finetune"), c19)],
    "C20": [(("L2",), c20)],
    "C21": [(("L1",), partial(c21, family="L1")), (("L2",), partial(c21, family="L2"))],
    "C22": [(("L9", "L1"), c22_tracking), (("L9",), c22_divergence)],
    "C23": [(("L1",), partial(c23, family="L1")), (("L2",), partial(c23, family="L2"))],
    "C24": [(("L8",), c24)],
    "C25": [(("L8",), c25)],
    "C26": [(("L4", "L1"), c26)],
    "C27": [(("L5", "L1"), c27)],
    "C28": [(("L6",), c28)],
    "C29": [
        (("L1",), partial(c29_ema, family="L1")),
        (("L2",), partial(c29_ema, family="L2")),
        (("L1", "L1:finetune"), partial(c29_finetune, family="L1")),
        (("L2", "L2:finetune"), partial(c29_finetune, family="L2")),
        (("L1", "L2"), c29_constant),
    ],
    "C30": [(("L7", "L1"), c30)],
}
