"""Claims C03-C10 (ICLR Figs 2, 3, 8, 9, 13): the sphere's U-shape, the norm and EMA of standard training, and the
curvature and Jacobian norm of fine-tuned iterates and EMAs. Thresholds are FIGURES.md's; windows given there in
epochs of the paper's 100-epoch large-LR phase are taken as the same fractions of the preset's large-LR phase.

Effects (``stats``): differences of final test errors in pp; orderings over the learning rate as the smallest
step between neighbouring rates (> 0 iff strictly monotone); the trace's fall as the ratio last fifth / first;
the norm plateau as its largest relative deviation from its mean; cosines as measured. A measurement's noise is
its standard error over probes; a series' noise is that of its neighbouring checkpoints.

Tables are pandas frames keyed by family (training metrics), family:finetune and family:measure. No pandas import
here, so that the Snakemake process can import the claim registry.
"""

from ..figures.curves import decay_epoch
from . import samples
from .samples import fall, rise
from .stats import estimate
from .verdict import NOT_ENOUGH, fmt, row

ABOUT = {
    "C03": ("ICLR Fig 2a", "on the sphere the final test error is U-shaped in the learning rate"),
    "C04": ("ICLR Fig 2b", "among the fine-tuned sphere runs the final error grows with the learning rate"),
    "C05": ("ICLR Fig 2c/d, 3c/d", "the Hessian trace at fine-tuned iterates falls along the trajectory"),
    "C06": ("ICLR Fig 3a/b", "with WD the weight norm settles on a plateau; final norms agree, errors do not"),
    "C07": ("ICLR Fig 3b", "in the large-LR phase the EMA is far better than the iterate and near the final error"),
    "C08": ("ICLR Fig 8", "the time-averaged trace falls with the LR at the iterate and fast EMA, not the slow EMA"),
    "C09": ("ICLR Fig 9", "the Jacobian norm falls along fine-tuned iterates, and with the LR at the EMA"),
    "C10": ("ICLR Fig 13", "the gradient-noise covariance aligns with the Gauss-Newton part of the Hessian"),
}


def _lrs(values: dict) -> str:
    return ", ".join(f"lr {lr:g}: {v:.4g}" for lr, v in sorted(values.items()))


def _iterate(train):
    return train[train.weights == "iterate"]


def _large_phase_end(train) -> int:
    """Last epoch at the large learning rate (the last epoch if the rate never drops)."""
    decay = decay_epoch(_iterate(train))
    return int(train.epoch.max()) if decay is None else decay


def _final_err(train) -> dict:
    """{lr: Sample of the final test error of the iterate per seed}."""
    it = _iterate(train)
    sd = samples.panel_noise([it], "test_err")
    return {
        float(lr): samples.with_noise(samples.final(runs, "test_err", since=decay_epoch(runs)), sd)
        for lr, runs in it.groupby("lr")
    }


def _estimates(measure, name: str, quantity: str, weights: str):
    return measure[(measure.measure == name) & (measure.quantity == quantity) & (measure.weights == weights)]


def _by_lr(rows) -> dict:
    """{lr: Sample of the mean estimate over the rows (checkpoints) per seed, noise from their standard errors}."""
    return {float(lr): samples.at(part, "value", "stderr") for lr, part in rows.groupby("lr")}


def _slow_fast(train) -> tuple[str, str] | None:
    coefs = sorted(train.ema_coef.dropna().unique())
    if len(coefs) < 2:
        return None
    return f"ema{coefs[-1]:g}", f"ema{coefs[0]:g}"


def _u_gap(err: dict) -> float:
    """Smaller end of the LR range minus the best interior error: > 0 iff the argmin is interior."""
    lrs = sorted(err)
    return min(err[lrs[0]], err[lrs[-1]]) - min(err[lr] for lr in lrs[1:-1])


def c03(t) -> list[dict]:
    """ICLR Fig 2a: after the fine-tuning phase, test error is U-shaped in the large-phase learning rate."""
    err = _final_err(t["V2"])
    measured = f"final test error: {_lrs(samples.seed_means(err))}"
    if len(err) < 3:
        return [row("C03", "U-shape", "V2", NOT_ENOUGH, measured, "needs >= 3 learning rates")]
    return [
        row(
            "C03",
            "interior minimum",
            "V2",
            estimate(err, _u_gap, 0.0, ">=", 0.0, "pp", 100),
            measured,
            "min(err at the smallest, largest lr) - min interior err > 0",
        ),
        row(
            "C03",
            "both ends worse by 2 pp",
            "V2",
            estimate(err, _u_gap, 2.0, ">=", 0.0, "pp", 100),
            measured,
            "min(err at the smallest, largest lr) - min interior err >= 2 pp",
        ),
    ]


def c04(t) -> list[dict]:
    """ICLR Fig 2b: of the three fine-tuned trajectories, the final error grows with the learning rate."""
    ft_runs = set(t["V2:finetune"].run_id)
    err = _final_err(t["V2"][t["V2"].run_id.isin(ft_runs)])
    measured = f"final test error: {_lrs(samples.seed_means(err))}"
    if len(err) < 2:
        return [row("C04", "order", "V2", NOT_ENOUGH, measured, "needs >= 2 fine-tuned learning rates")]
    effect = estimate(err, rise, 0.0, ">=", 0.0, "pp", 100)
    return [row("C04", "error grows with lr", "V2", effect, measured, "smallest step of err between lrs > 0")]


def _c05(t, family: str) -> list[dict]:
    trace = _estimates(t[f"{family}:measure"], "hessian_trace", "trace", "finetuned")
    ft = t[f"{family}:finetune"]
    ft_end = ft[(ft.epoch == ft.ft_epochs) & (ft.weights == "iterate")]
    noise = samples.panel_noise([_iterate(t[family])], "test_err") if family in t else None
    rows = []
    for lr in sorted(trace.lr.unique()):
        series = trace[trace.lr == lr]
        epochs = sorted(series.epoch.unique())
        scope = f"{family} lr {lr:g}"
        if len(epochs) < 2:
            rows.append(row("C05", "trace decreases", scope, NOT_ENOUGH, f"{len(epochs)} checkpoint", ""))
            continue
        k = max(1, round(len(epochs) / 5))  # the paper's last 10 of 50 checkpoints
        first = samples.at(series[series.epoch == epochs[0]], "value", "stderr")
        last = samples.at(series[series.epoch.isin(epochs[-k:])], "value", "stderr")
        pair = {"first": first, "last": last}
        means = samples.seed_means(pair)
        rows.append(
            row(
                "C05",
                "trace at fine-tuned iterates decreases",
                scope,
                estimate(pair, lambda v: v["last"] / v["first"], 0.5, "<=", 1.0, "x"),
                f"Tr at epoch {epochs[0]}: {means['first']:.4g}; mean of the last {k}: {means['last']:.4g}",
                "mean of the last fifth / first <= 0.5",
            )
        )
        # a fine-tuned end error has the evaluation noise of the family's converged test errors
        ends = ft_end[ft_end.lr == lr]
        froms = sorted(ends.from_epoch.unique())
        first = samples.with_noise(samples.at(ends[ends.from_epoch == froms[0]], "test_err"), noise)
        last = samples.with_noise(samples.at(ends[ends.from_epoch == froms[-1]], "test_err"), noise)
        if len(froms) < 2:
            rows.append(row("C05", "fine-tuned test error decreases", scope, NOT_ENOUGH, "< 2 fine-tunings", ""))
            continue
        pair = {"first": first, "last": last}
        means = samples.seed_means(pair)
        rows.append(
            row(
                "C05",
                "fine-tuned test error decreases",
                scope,
                estimate(pair, lambda v: v["first"] - v["last"], 0.0, ">=", 0.0, "pp", 100),
                f"FT test error from epoch {froms[0]}: {means['first']:.2%}, from {froms[-1]}: {means['last']:.2%}",
                "err(first) - err(last) > 0",
            )
        )
    return rows


def c05_v2(t) -> list[dict]:
    return _c05(t, "V2")


def c05_v4(t) -> list[dict]:
    return _c05(t, "V4")


def _norm_curve(run):
    return run.groupby("epoch").weight_norm.mean().sort_index()


def c06(t) -> list[dict]:
    """ICLR Fig 3a: with WD the weight norm collapses to a plateau; final norms agree, final errors do not."""
    it = _iterate(t["V4"])
    end = _large_phase_end(t["V4"])
    early_at, lo = max(1, round(0.15 * end)), round(0.2 * end)

    def drop(run):
        norm = _norm_curve(run)
        return float(norm[norm.index <= early_at].iloc[-1] / norm.iloc[0])

    def drop_noise(run):  # one evaluation's noise, read on the plateau (the drop itself is no noise)
        norm = _norm_curve(run)
        sd = samples.tail_noise(norm[(norm.index >= lo) & (norm.index <= end)].tolist())
        return None if sd is None else sd / float(norm.iloc[0])

    def plateau(run):
        norm = _norm_curve(run)
        window = norm[(norm.index >= lo) & (norm.index <= end)]
        return float(max(window.max() / window.mean() - 1, 1 - window.min() / window.mean())) if len(window) else None

    def plateau_noise(run):
        norm = _norm_curve(run)
        window = norm[(norm.index >= lo) & (norm.index <= end)]
        sd = samples.tail_noise(window.tolist())
        return None if sd is None else sd / float(window.mean())

    rows = []
    for lr, runs in it.groupby("lr"):
        scope = f"V4 lr {lr:g}"
        ratio, spread = samples.per_seed(runs, drop, drop_noise), samples.per_seed(runs, plateau, plateau_noise)
        measured = f"norm at 15% of the phase (epoch {early_at}) / at init: {_lrs({lr: _mean(ratio)})}"
        effect = estimate({"r": ratio}, lambda v: v["r"], 1.0, "<=", 1.0, "x")
        rows.append(row("C06", "norm drops early", scope, effect, measured, "norm(15% of the phase) / norm(0) < 1"))
        measured = f"largest deviation of the norm from its mean over epochs {lo}-{end}: {_mean(spread):.1%}"
        effect = estimate({"s": spread}, lambda v: v["s"], 10.0, "<=", 10.0, "%", 100)
        rows.append(row("C06", "norm stays on a plateau", scope, effect, measured, "within +-10% of its mean"))
    sd = samples.panel_noise([it], "weight_norm")
    norms = {
        float(lr): samples.with_noise(samples.final(runs, "weight_norm", since=decay_epoch(runs)), sd)
        for lr, runs in it.groupby("lr")
    }
    errs = _final_err(t["V4"])

    def disagreement(v):
        mean = sum(v.values()) / len(v)
        return max(abs(n / mean - 1) for n in v.values())

    rows.append(
        row(
            "C06",
            "final norms agree across learning rates",
            "V4",
            estimate(norms, disagreement, 5.0, "<=", 5.0, "%", 100),
            f"final norm: {_lrs(samples.seed_means(norms))}",
            "each within 5% of their mean",
        )
    )
    rows.append(
        row(
            "C06",
            "final errors differ",
            "V4",
            estimate(errs, lambda v: max(v.values()) - min(v.values()), 2.0, ">=", 0.0, "pp", 100),
            f"final test error: {_lrs(samples.seed_means(errs))}",
            "max - min over lr >= 2 pp",
        )
    )
    return rows


def _mean(sample) -> float:
    return sum(sample.values.values()) / len(sample.values) if sample.values else float("nan")


def c07(t) -> list[dict]:
    """ICLR Fig 3b: the EMA in the large-LR phase is far better than the iterate and close to the final error."""
    train, end = t["V4"], _large_phase_end(t["V4"])
    emas = _slow_fast(train) or (None, None)
    slow = emas[0] or next((w for w in train.weights.unique() if w.startswith("ema")), None)
    if slow is None:
        return [row("C07", "all", "V4", NOT_ENOUGH, "no EMA", "")]
    rows, lo = [], round(0.5 * end)
    ema_noise = samples.panel_noise([train[train.weights == slow]], "test_err", upto=end)
    final_noise = samples.panel_noise([_iterate(train)], "test_err")
    for lr, runs in train.groupby("lr"):
        scope = f"V4 lr {lr:g}"
        window = {
            "EMA": samples.window(runs[runs.weights == slow], "test_err", lo, end),
            "iterate": samples.window(_iterate(runs), "test_err", lo, end),
        }
        means = samples.seed_means(window)
        rows.append(
            row(
                "C07",
                "EMA beats the iterate by 10 pp",
                scope,
                estimate(window, lambda v: v["iterate"] - v["EMA"], 10.0, ">=", 0.0, "pp", 100),
                f"mean test error over epochs {lo}-{end}: {slow} {means['EMA']:.2%}, iterate {means['iterate']:.2%}",
                "err(iterate) - err(EMA) >= 10 pp",
            )
        )
        ema = runs[(runs.weights == slow) & (runs.epoch <= end)]
        pair = {
            "EMA": samples.with_noise(samples.final(ema, "test_err"), ema_noise),
            "final": samples.with_noise(
                samples.final(_iterate(runs), "test_err", since=decay_epoch(_iterate(runs))), final_noise
            ),
        }
        means = samples.seed_means(pair)
        rows.append(
            row(
                "C07",
                "EMA before the decay is close to the final error",
                scope,
                estimate(pair, lambda v: v["EMA"] - v["final"], 1.5, "within", 0.0, "pp", 100),
                f"{slow} at epoch {end}: {means['EMA']:.2%}; final iterate: {means['final']:.2%}",
                "|err(EMA at the decay) - err(final)| <= 1.5 pp",
            )
        )
    return rows


def c08(t) -> list[dict]:
    """ICLR Fig 8: the time-averaged trace in the large-LR phase decreases with LR at the iterate and the fast
    EMA, but not at the slow EMA. (The authors' notebook contradicts their text here: reported, not assumed.)"""
    emas = _slow_fast(t["V4"])
    if emas is None:
        return [row("C08", "all", "V4", NOT_ENOUGH, "needs two EMAs", "")]
    slow, fast = emas
    end = _large_phase_end(t["V4"])
    rows = []
    for weights, want in (("iterate", True), (fast, True), (slow, False)):
        trace = _estimates(t["V4:measure"], "hessian_trace", "trace", weights)
        avg = _by_lr(trace[trace.epoch <= end])
        if len(avg) < 2:
            rows.append(row("C08", weights, "V4", NOT_ENOUGH, f"{len(avg)} learning rate", ""))
            continue
        kind = ">=" if want else "<="
        rows.append(
            row(
                "C08",
                f"trace at {weights} {'decreases' if want else 'does not decrease'} with LR",
                "V4",
                estimate(avg, fall, 0.0, kind, 0.0, "Tr"),
                f"mean Tr over checkpoints up to epoch {end}: {_lrs(samples.seed_means(avg))}",
                f"smallest decrease of Tr between lrs {'> 0' if want else '< 0 (some lr step does not decrease)'}",
            )
        )
    return rows


def c09(t) -> list[dict]:
    """ICLR Fig 9: the Jacobian norm falls along fine-tuned iterates; for the EMA, larger LR gives a larger
    train CE and a smaller Jacobian norm."""
    rows = []
    jac = _estimates(t["V4:measure"], "jacobian_norm", "norm", "finetuned")
    for lr in sorted(jac.lr.unique()):
        series = jac[jac.lr == lr]
        epochs = sorted(series.epoch.unique())
        first = samples.at(series[series.epoch == epochs[0]], "value", "stderr")
        last = samples.at(series[series.epoch == epochs[-1]], "value", "stderr")
        first = first if len(epochs) > 1 else samples.of({})
        pair = {"first": first, "last": last}
        means, scope = samples.seed_means(pair), f"V4 lr {lr:g}"
        effect = estimate(pair, lambda v: v["first"] - v["last"], 0.0, ">=", 0.0, "||J||") if first.values else None
        rows.append(
            row(
                "C09",
                "Jacobian norm at fine-tuned iterates decreases",
                scope,
                effect or NOT_ENOUGH,
                f"||J|| from epoch {epochs[0]}: {means['first']:.4g}, from {epochs[-1]}: {means['last']:.4g}"
                if effect
                else f"{len(epochs)} checkpoint",
                "||J||(first) - ||J||(last) > 0",
            )
        )
    emas = _slow_fast(t["V4"])
    slow = emas[0] if emas else next((w for w in t["V4"].weights.unique() if w.startswith("ema")), None)
    end = _large_phase_end(t["V4"])
    ema_jac = _estimates(t["V4:measure"], "jacobian_norm", "norm", slow or "")
    ema_jac = _by_lr(ema_jac[ema_jac.epoch <= end])
    train = t["V4"]
    ema_rows = train[(train.weights == slow) & (train.epoch <= end) & (train.epoch > 0)]
    ce = {float(lr): samples.window(part, "train_ce", 1, end) for lr, part in ema_rows.groupby("lr")}
    if len(ema_jac) < 2 or len(ce) < 2:
        return rows + [row("C09", "EMA", "V4", NOT_ENOUGH, "needs >= 2 learning rates with EMA measurements", "")]
    return rows + [
        row(
            "C09",
            "EMA train CE grows with LR",
            "V4",
            estimate(ce, rise, 0.0, ">=", 0.0, "nats"),
            f"mean {slow} train CE up to epoch {end}: {_lrs(samples.seed_means(ce))}",
            "smallest increase of CE between lrs > 0",
        ),
        row(
            "C09",
            "EMA Jacobian norm falls with LR",
            "V4",
            estimate(ema_jac, fall, 0.0, ">=", 0.0, "||J||"),
            f"mean {slow} ||J|| up to epoch {end}: {_lrs(samples.seed_means(ema_jac))}",
            "smallest decrease of ||J|| between lrs > 0",
        ),
    ]


def c10(t) -> list[dict]:
    """ICLR Fig 13: the noise covariance aligns with the Gauss-Newton part of the Hessian."""
    m = t["V2:measure"]
    m = m[m.measure == "hessian_noise"]
    if m.empty:
        return [row("C10", "all", "V2", NOT_ENOUGH, "no hessian_noise measurement", "")]
    cos = {q.removeprefix("cos_"): samples.at(part, "value", "stderr") for q, part in m.groupby("quantity")}
    measured = "mean cosine with the noise covariance: " + fmt(samples.seed_means(cos))
    return [
        row(
            "C10",
            "G aligns better than E",
            "V2",
            estimate({k: cos[k] for k in ("G", "E")}, lambda v: v["G"] - v["E"], 0.0, ">=", 0.0, "cos"),
            measured,
            "CS(G) - CS(E) > 0",
        ),
        row(
            "C10",
            "H aligns",
            "V2",
            estimate({"H": cos["H"]}, lambda v: v["H"], 0.5, ">=", 0.5, "cos"),
            measured,
            "CS(H) >= 0.5",
        ),
    ]


CLAIMS = {
    "C03": [(("V2",), c03)],
    "C04": [(("V2", "V2:finetune"), c04)],
    "C05": [(("V2:measure", "V2:finetune"), c05_v2), (("V4:measure", "V4:finetune"), c05_v4)],
    "C06": [(("V4",), c06)],
    "C07": [(("V4",), c07)],
    "C08": [(("V4", "V4:measure"), c08)],
    "C09": [(("V4", "V4:measure"), c09)],
    "C10": [(("V2:measure",), c10)],
}
