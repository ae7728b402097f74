"""Claims C17-C30 (ICLR Figs 4-7, 14-20; NeurIPS Figs 6-8, 19-24): GPT-2 on OpenWebText with and without weight
decay. Thresholds marked (I) in FIGURES.md are the module constants below.

Tables are pandas frames of the LLM_TRAIN schema keyed by family (L1 ... L10) and of the LLM_FINETUNE schema keyed
by family:finetune. Configurations are told apart by their columns, never by the paper's values, so any preset's
grid works: "lambda 0.1" is the smallest wd > 0 of a grid, "lambda 0.3" its largest, "lr 1e-3" the largest lr and
"lr 6e-4" the next one. Iteration windows are fractions of max_iters (5k of 50k = 0.1). A run's final value is the
mean of its last FINAL_EVALS evaluations (evaluation noise is 0.005-0.01 nats), and a configuration's the mean of
its runs' (seeds'); a non-finite value stays non-finite. Divergence is claim C24's definition, evaluated on the
train_loss curve by ``divergence.diverged``.

L9's mimic runs (schedule "mimic") train at wd 0 with the learning-rate schedule of an L1 run; which wd that run had
is their ``mimic`` column (mimic runs without it are left out). No pandas import here, so that the Snakemake process
can import the claim registry.
"""

import math
from functools import partial

from ..training import divergence
from .verdict import NOT_ENOUGH, row, verdict

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


def _curve(rows, column: str = "train_loss"):
    """Per-step mean over the runs (seeds)."""
    return rows.groupby("step")[column].mean()


def _window(rows, lo: float, hi: float, column: str = "train_loss") -> float:
    """Mean of the seed-mean curve over the evaluations between lo and hi x max_iters (NaN if none)."""
    inside = rows[(rows.step >= lo * rows.max_iters) & (rows.step <= hi * rows.max_iters)]
    return float(_curve(inside, column).mean()) if len(inside) else math.nan


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


def _increasing(values: dict) -> bool:
    ordered = [values[k] for k in sorted(values)]
    return all(a < b for a, b in zip(ordered, ordered[1:], strict=False))


def _decreasing(values: dict) -> bool:
    ordered = [values[k] for k in sorted(values)]
    return all(a > b for a, b in zip(ordered, ordered[1:], strict=False))


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


def c17(t, family: str) -> list[dict]:
    """ICLR Fig 4, NeurIPS Fig 19: no generalisation gap - validation and train loss agree at every evaluation after
    the first tenth of training, at every wd (124M in L1, 774M in L10)."""
    check = "validation loss tracks train loss"
    expected = f"|val - train| <= {C17_GAP:g} at every eval after {C17_AFTER:g} x max_iters, every wd"
    rows = []
    for model, panel in t[family].groupby("model"):
        scope, gaps = f"{family} {model}", {}
        for wd, runs in panel.groupby("wd"):
            after = runs[runs.step > C17_AFTER * runs.max_iters]
            gap = (after.val_loss - after.train_loss).groupby(after.step).mean().abs()
            if len(gap):
                gaps[float(wd)] = (float(gap.max()), int(gap.idxmax()))
        if not gaps:
            rows.append(
                row("C17", check, scope, NOT_ENOUGH, f"no evaluation after {C17_AFTER:g} x max_iters", expected)
            )
            continue
        measured = "max |val - train|: " + ", ".join(f"wd {wd:g}: {g:.4f} at step {s}" for wd, (g, s) in gaps.items())
        rows.append(row("C17", check, scope, verdict(all(g <= C17_GAP for g, _ in gaps.values())), measured, expected))
    return rows


def c18(t) -> list[dict]:
    """ICLR Fig 5 left, NeurIPS Fig 6: with the cosine schedule every wd > 0 ends below wd 0, by 0.01-0.04 at best,
    although mid-training the largest wd is above wd 0 (the curves cross)."""
    frame, scope = t["L1"], "L1"
    final = _finals(frame, "wd")
    checks = (
        ("WD lowers the final loss", "L(wd) < L(0) for every wd > 0"),
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
    ok = all(v < zero for v in pos.values())
    rows = [row("C18", checks[0][0], scope, verdict(ok), measured, checks[0][1])]
    best = min(pos, key=pos.get)
    gain = zero - pos[best]
    measured += f"; gain {gain:.4f} (wd {best:g})"
    ok = C18_GAIN[0] <= gain <= C18_GAIN[1]
    rows.append(row("C18", checks[1][0], scope, verdict(ok), measured, checks[1][1]))
    top = max(pos)
    mid = {wd: _window(frame[_is(frame.wd, wd)], *C18_MID) for wd in (0.0, top)}
    if any(math.isnan(v) for v in mid.values()):
        why = f"no evaluation between {C18_MID[0]:g} and {C18_MID[1]:g} x max_iters at wd 0 and wd {top:g}"
        return rows + [row("C18", checks[2][0], scope, NOT_ENOUGH, why, checks[2][1])]
    diff = mid[top] - mid[0.0]
    measured = f"mean train loss mid-training: {_by('wd', mid)}; difference {diff:.4f}"
    return rows + [row("C18", checks[2][0], scope, verdict(diff > C18_CROSS), measured, checks[2][1])]


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
    checks = (
        ("fine-tuned from the last checkpoint the loss falls with wd", "L_FT strictly decreasing in wd"),
        (
            "a higher loss can be a better starting point",
            "at some checkpoint with L(max wd) > L(0): L_FT(max wd) <= L_FT(0)",
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
        rows = [row("C19", checks[0][0], scope, verdict(_decreasing(values)), measured, checks[0][1])]
    zero, top = wds[0], wds[-1]
    details, better, higher = [], False, 0
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
            higher += 1
            better |= after[top] <= after[zero]
    if not details:
        why = f"no checkpoint of wd 0 and wd {top:g} with a loss before fine-tuning"
        return rows + [row("C19", checks[1][0], scope, NOT_ENOUGH, why, checks[1][1])]
    measured = "; ".join(details) + f" ({higher} checkpoints with L(wd {top:g}) > L(0) before fine-tuning)"
    return rows + [row("C19", checks[1][0], scope, verdict(better), measured, checks[1][1])]


def c20(t) -> list[dict]:
    """ICLR Fig 5 right: with a constant learning rate WD does not lower the loss, and (I) the loss grows with wd."""
    frame, scope = t["L2"], "L2"
    final = _finals(frame, "wd")
    checks = (
        ("WD does not lower the loss with a constant LR", f"L(0) <= min L(wd > 0) + {C20_SLACK:g}"),
        ("the loss grows with wd", "L strictly increasing in wd"),
    )
    why = _missing_wd(final, "L2")
    if why:
        return [row("C20", c, scope, NOT_ENOUGH, why, e) for c, e in checks]
    measured = f"{_final_label(frame)}: {_by('wd', final)}"
    ok = final[_key(final, 0.0)] <= min(_positive(final).values()) + C20_SLACK
    return [
        row("C20", checks[0][0], scope, verdict(ok), measured, checks[0][1]),
        row("C20", checks[1][0], scope, verdict(_increasing(final)), measured, checks[1][1]),
    ]


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


def c21(t, family: str) -> list[dict]:
    """ICLR Fig 6, NeurIPS Fig 7 left: at the end the effective learning rate lr/||w|| grows with wd and ||w|| falls
    with it; (I) without WD the norm does not decrease after warmup."""
    frame, scope = t[family], family
    eff, norm = _finals(frame, "wd", "eff_lr"), _finals(frame, "wd", "weight_norm")
    checks = (
        ("effective LR grows with wd", "final lr/||w|| strictly increasing in wd"),
        ("weight norm falls with wd", "final ||w|| strictly decreasing in wd"),
        ("without WD the norm does not decrease after warmup", f"never {C21_NORM_DIP:.0%} below its running maximum"),
    )
    rows = []
    if len(eff) < 2:
        why = f"{len(eff)} wd values in {family}"
        rows += [row("C21", c, scope, NOT_ENOUGH, why, e) for c, e in checks[:2]]
    else:
        measured = f"final lr/||w||: {_by('wd', eff, '.4g')}"
        rows.append(row("C21", checks[0][0], scope, verdict(_increasing(eff)), measured, checks[0][1]))
        measured = f"final ||w||: {_by('wd', norm, '.4g')}"
        rows.append(row("C21", checks[1][0], scope, verdict(_decreasing(norm)), measured, checks[1][1]))
    dip = _norm_dip(frame[_is(frame.wd, 0.0)])
    if dip is None:
        why = f"no {family} run at wd 0 with >= 2 evaluations after warmup"
        return rows + [row("C21", checks[2][0], scope, NOT_ENOUGH, why, checks[2][1])]
    measured = f"wd 0, steps {dip[1]}-{dip[2]}: deepest dip {dip[0]:.2%}"
    return rows + [row("C21", checks[2][0], scope, verdict(dip[0] <= C21_NORM_DIP), measured, checks[2][1])]


def _mimic_runs(frame):
    """L9's mimic runs that say which L1 wd they mimic (a non-null ``mimic``); the others are left out."""
    if "mimic" not in frame:
        return frame.iloc[:0].assign(mimic=[])
    runs = frame[frame.schedule == "mimic"]
    return runs[runs.mimic.notna()]


def c22_tracking(t) -> list[dict]:
    """NeurIPS Fig 7 right: at full precision, wd 0 with the schedule that mimics a wd run's effective learning rate
    tracks that run's loss after the first 2k of 50k iterations and ends at its loss."""
    checks = (
        (
            "the fp32 mimic run tracks the run it mimics",
            f"|dL| <= {C22_TRACK:g} at every eval after {C22_AFTER:g} x max_iters",
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
        diff = (_curve(runs) - _curve(ref)).dropna()
        diff = diff[diff.index > C22_AFTER * int(runs.max_iters.max())].abs()
        if diff.empty:
            why = f"no evaluation step shared with L1 wd {wd:g} after {C22_AFTER:g} x max_iters"
            rows.append(row("C22", checks[0][0], scope, NOT_ENOUGH, why, checks[0][1]))
        else:
            measured = f"max |L_mimic - L(wd {wd:g})| {diff.max():.4f} at step {int(diff.idxmax())}"
            measured += f" over {len(diff)} evals"
            rows.append(row("C22", checks[0][0], scope, verdict(diff.max() <= C22_TRACK), measured, checks[0][1]))
        mine, theirs = _final(runs), _final(ref)
        measured = f"final train loss: mimic {mine:.4f}, L1 wd {wd:g} ({', '.join(sorted(ref.precision.unique()))}) "
        measured += f"{theirs:.4f}"
        ok = abs(mine - theirs) <= C22_FINAL
        rows.append(row("C22", checks[1][0], scope, verdict(ok), measured, checks[1][1]))
    return rows


def c22_divergence(t) -> list[dict]:
    """NeurIPS Fig 7 right: in bf16 the mimic run diverges."""
    check, expected = "the bf16 mimic run diverges", "every seed diverges (C24's definition)"
    mimic = _mimic_runs(t["L9"])
    half = mimic[mimic.precision == BF16]
    if half.empty:
        why = "no bf16 L9 mimic run with a mimicked wd (column mimic)"
        return [row("C22", check, "L9 bf16", NOT_ENOUGH, why, expected)]
    rows = []
    for wd, runs in half.groupby("mimic"):
        n, k = runs.run_id.nunique(), len(_divergences(runs))
        measured = f"{k}/{n} runs diverge"
        rows.append(row("C22", check, f"L9 bf16 mimic of wd {wd:g}", verdict(k == n), measured, expected))
    return rows


def c23(t, family: str) -> list[dict]:
    """ICLR Fig 17, NeurIPS Fig 23 (I): at the end the (pre-clip) gradient norm grows with wd, the inverse of the
    weight norm's order."""
    frame, scope = t[family], family
    check, expected = "gradient norm grows with wd", "final grad norm strictly increasing in wd"
    grad, norm = _finals(frame, "wd", "grad_norm"), _finals(frame, "wd", "weight_norm")
    if len(grad) < 2:
        return [row("C23", check, scope, NOT_ENOUGH, f"{len(grad)} wd values in {family}", expected)]
    measured = f"final grad norm: {_by('wd', grad, '.4g')}; final ||w||: {_by('wd', norm, '.4g')}"
    return [row("C23", check, scope, verdict(_increasing(grad)), measured, expected)]


def _count_row(claim, check, scope, runs, diverge: bool) -> dict:
    """'every run diverges' (diverge) or 'no run diverges' over ``runs``."""
    expected = "every seed diverges" if diverge else "no seed diverges"
    if runs.empty:
        return row(claim, check, scope, NOT_ENOUGH, f"no run of {scope}", expected)
    n, gone = runs.run_id.nunique(), _divergences(runs)
    measured = f"{len(gone)}/{n} runs diverge" + (f" ({', '.join(gone)})" if gone and not diverge else "")
    return row(claim, check, scope, verdict(len(gone) == n if diverge else not gone), measured, expected)


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
        "L(top lr, min wd > 0) < L(next lr, 0)",
    )
    nxt = half[_is(half.lr, lrs[-2]) & _is(half.wd, 0.0)] if len(lrs) > 1 else half.iloc[:0]
    if small is None or nxt.empty:
        why = "one bf16 learning rate" if len(lrs) < 2 else "no run with wd > 0 at the largest lr or wd 0 at the next"
        rows.append(row("C24", check, "L8 bf16", NOT_ENOUGH, why, expected))
        rows.append(row("C24", "bf16 at the next lr without WD does not diverge", "L8 bf16", NOT_ENOUGH, why, ""))
        return rows
    mine, theirs = _final(at_top[_is(at_top.wd, small)]), _final(nxt)
    measured = f"final train loss: lr {top:g} wd {small:g}: {mine:.4f}, lr {lrs[-2]:g} wd 0: {theirs:.4f}"
    rows.append(row("C24", check, "L8 bf16", verdict(mine < theirs), measured, expected))
    scope = f"L8 bf16 lr {lrs[-2]:g} wd 0"
    return rows + [_count_row("C24", "bf16 at the next lr without WD does not diverge", scope, nxt, diverge=False)]


def c25(t) -> list[dict]:
    """ICLR Fig 20, NeurIPS Fig 24: in bf16 every smaller learning rate avoids divergence but ends above the best WD
    run of the largest one; at the smallest wd > 0 the final weight norm grows with the learning rate."""
    half, _, lrs = _l8_grid(t["L8"])
    checks = (
        ("bf16 below the largest lr does not diverge", "no run with lr < top diverges"),
        ("bf16 below the largest lr ends above its best WD run", "L(lr < top, any wd) > min over wd > 0 L(top lr, wd)"),
        ("at the smallest wd the final norm grows with lr", "final ||w|| strictly increasing in lr"),
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
        ok = all(v > wd_top[best] for v in finals.values())
        rows.append(row("C25", checks[1][0], "L8 bf16", verdict(ok), measured, checks[1][1]))
    small = _smallest_wd(half)
    norm = _finals(half[_is(half.wd, small)], "lr", "weight_norm") if small is not None else {}
    if len(norm) < 2:
        why = f"final norms at {len(norm)} learning rates at the smallest wd > 0"
        return rows + [row("C25", checks[2][0], "L8 bf16", NOT_ENOUGH, why, checks[2][1])]
    measured = f"final ||w|| at wd {small:g}: {_by('lr', norm, '.4g')}"
    return rows + [
        row("C25", checks[2][0], f"L8 bf16 wd {small:g}", verdict(_increasing(norm)), measured, checks[2][1])
    ]


def c26(t) -> list[dict]:
    """ICLR Fig 14, NeurIPS Fig 20: decaying the LayerNorm gains too changes little at a small wd and hurts at a large
    one, against L1 at the same wd."""
    std, l4 = t["L1"], t["L4"]
    std_final = _finals(std[~std.decay_ln.astype(bool)], "wd")
    all_final = _finals(l4[l4.decay_ln.astype(bool)], "wd")
    shared = sorted(wd for wd in _positive(all_final) if _key(std_final, wd) is not None)
    checks = (
        ("decaying LayerNorm too changes little at the smallest shared wd", f"|L_all - L_std| <= {C26_CLOSE:g}"),
        ("decaying LayerNorm too hurts at the largest shared wd", "L_all > L_std"),
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
        ok = abs(mine - theirs) <= C26_CLOSE if check == checks[0][0] else mine > theirs
        measured = f"final train loss: with LayerNorm {mine:.4f}, without {theirs:.4f}"
        rows.append(row("C26", check, scope, verdict(ok), measured, expected))
    return rows


def c27(t) -> list[dict]:
    """ICLR Fig 15, NeurIPS Fig 21: a coupled l2 penalty (at wd 0) beats no regularisation and lands close to the
    best AdamW weight decay."""
    l5, l1 = t["L5"], t["L1"]
    l2 = _finals(l5[(l5.l2 > 0) & _is(l5.wd, 0.0)], "l2")
    adamw = _finals(l1, "wd")
    checks = (
        ("coupled l2 beats no regularisation", f"min over l2 of L <= L(AdamW wd 0) - {C27_GAIN:g}"),
        ("coupled l2 is close to the best AdamW wd", f"|min over l2 of L - min over wd > 0 of L| <= {C27_CLOSE:g}"),
    )
    why = "no L5 run with l2 > 0 at wd 0" if not l2 else _missing_wd(adamw, "L1")
    if why:
        return [row("C27", c, "L5 vs L1", NOT_ENOUGH, why, e) for c, e in checks]
    best = min(l2, key=l2.get)
    zero, pos = adamw[_key(adamw, 0.0)], _positive(adamw)
    best_wd = min(pos, key=pos.get)
    measured = (
        f"final train loss: {_by('l2', l2)}; AdamW wd 0: {zero:.4f}, best AdamW wd {best_wd:g}: {pos[best_wd]:.4f}"
    )
    return [
        row("C27", checks[0][0], "L5 vs L1", verdict(l2[best] <= zero - C27_GAIN), measured, checks[0][1]),
        row(
            "C27", checks[1][0], "L5 vs L1", verdict(abs(l2[best] - pos[best_wd]) <= C27_CLOSE), measured, checks[1][1]
        ),
    ]


def c28(t) -> list[dict]:
    """ICLR Fig 16, NeurIPS Fig 22: with SGD + momentum some wd > 0 ends below wd 0."""
    frame = t["L6"]
    final = _finals(frame[frame.optimizer == "sgdm"], "wd")
    check, expected = "WD helps SGD with momentum", "min over wd > 0 of L < L(0)"
    why = _missing_wd(final, "L6 sgdm")
    if why:
        return [row("C28", check, "L6", NOT_ENOUGH, why, expected)]
    ok = min(_positive(final).values()) < final[_key(final, 0.0)]
    return [row("C28", check, "L6", verdict(ok), f"{_final_label(frame)}: {_by('wd', final)}", expected)]


def c29_ema(t, family: str) -> list[dict]:
    """ICLR Fig 18: the EMA of the weights ends below the iterate in every run, and its spread across wd is smaller."""
    frame, scope = t[family], family
    checks = (
        ("the EMA ends below the iterate", "final L(EMA) < final L(w_t) in every run"),
        ("the EMA's spread across wd is smaller", "max - min over wd of L(EMA) < that of L(w_t)"),
    )
    runs = [(_run_final(r, "ema_train_loss"), _run_final(r, "train_loss")) for _, r in frame.groupby("run_id")]
    ema, it = _finals(frame, "wd", "ema_train_loss"), _finals(frame, "wd", "train_loss")
    below = sum(e < w for e, w in runs)
    listed = ", ".join(f"wd {wd:g}: {ema[wd]:.4f} vs {it[wd]:.4f}" for wd in sorted(ema))
    measured = f"{below}/{len(runs)} runs; final EMA vs iterate loss (mean over seeds): {listed}"
    rows = [row("C29", checks[0][0], scope, verdict(below == len(runs)), measured, checks[0][1])]
    if len(ema) < 2:
        return rows + [row("C29", checks[1][0], scope, NOT_ENOUGH, f"{len(ema)} wd values", checks[1][1])]
    spread_ema, spread_it = max(ema.values()) - min(ema.values()), max(it.values()) - min(it.values())
    measured = f"spread over {len(ema)} wd: EMA {spread_ema:.4f}, iterate {spread_it:.4f}"
    return rows + [row("C29", checks[1][0], scope, verdict(spread_ema < spread_it), measured, checks[1][1])]


def c29_finetune(t, family: str) -> list[dict]:
    """ICLR Fig 18: fine-tuning a checkpoint ends below the EMA at that checkpoint."""
    train, scope = t[family], family
    check, expected = "fine-tuning beats the EMA", "L_FT < L(EMA) at every fine-tuned checkpoint"
    end, _ = _ft_losses(t[f"{family}:finetune"])
    margins = {}
    for (wd, step), ft_loss in end.items():
        at = train[_is(train.wd, wd) & (train.step == step)]
        if len(at):
            margins[(wd, step)] = (float(at.ema_train_loss.mean()) - ft_loss, ft_loss)
    if not margins:
        return [row("C29", check, scope, NOT_ENOUGH, "no EMA evaluation at a fine-tuned checkpoint", expected)]
    (wd, step), (margin, ft_loss) = min(margins.items(), key=lambda kv: kv[1][0])
    measured = (
        f"{sum(m > 0 for m, _ in margins.values())}/{len(margins)} checkpoints; smallest L(EMA) - L_FT {margin:.4f} "
        f"at wd {wd:g} step {step} (L_FT {ft_loss:.4f})"
    )
    return [row("C29", check, scope, verdict(all(m > 0 for m, _ in margins.values())), measured, expected)]


def c29_constant(t) -> list[dict]:
    """ICLR Fig 18 (I): a constant learning rate with the EMA lands close to the cosine iterate at the same wd."""
    check, expected = "constant LR + EMA lands near the cosine iterate", f"|L2 L(EMA) - L1 L(w_t)| <= {C29_CLOSE:g}"
    cosine, constant = _finals(t["L1"], "wd"), _finals(t["L2"], "wd", "ema_train_loss")
    shared = {wd: (constant[wd], cosine[_key(cosine, wd)]) for wd in constant if _key(cosine, wd) is not None}
    if not shared:
        return [row("C29", check, "L2 vs L1", NOT_ENOUGH, "no wd shared by L1 and L2", expected)]
    measured = "final EMA (constant) vs iterate (cosine): "
    measured += ", ".join(f"wd {wd:g}: {a:.4f} vs {b:.4f}" for wd, (a, b) in sorted(shared.items()))
    ok = all(abs(a - b) <= C29_CLOSE for a, b in shared.values())
    return [row("C29", check, "L2 vs L1", verdict(ok), measured, expected)]


def c30(t) -> list[dict]:
    """ICLR Fig 19: at wd 0 some slower cosine (decaying over more than max_iters) beats the standard one by 0.01
    and lands within 0.01 of the smallest wd > 0."""
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
    ok = any(v <= zero - C30_GAIN and abs(v - final[small]) <= C30_CLOSE for v in slower.values())
    measured = "final train loss: " + ", ".join(
        f"lr_decay_iters {k:g} ({k / max_iters:.2f} x max_iters): {v:.4f}" for k, v in sorted(slower.items())
    )
    measured += f"; L1 wd 0: {zero:.4f}, wd {small:g}: {final[small]:.4f}"
    return [row("C30", check, "L7 vs L1", verdict(ok), measured, expected)]


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
