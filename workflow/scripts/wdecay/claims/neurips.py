"""Claims C11-C16 (NeurIPS Figs 1-4, 14, 15, Tables 2-3): WD across training-set sizes, the four configurations on
CIFAR-10 and Tiny-ImageNet, the eta*lambda grid (EMA error, Jacobian norm, noise scale), the snapshot ensemble
against the EMA, and the EMA against fine-tuning. Thresholds marked (I) in FIGURES.md are the module constants
below; means are over seeds wherever a configuration has several.

The grid claims (C13-C15) read one row per run from ``summary.run_summary`` and average the runs of each (lr, wd)
cell; C13 and C14 keep the cells with WD (eta*lambda > 0, the axis of the paper's heat maps and scatter plots).
Rank correlations are Spearman's, computed with pandas' own ranks (average ranks on ties), so scipy is not needed.
"The slowest EMA" is the one with the largest coefficient. No pandas import here, so that the Snakemake process
can import the claim registry.
"""

import math

from ..figures.curves import config_roles, decay_epoch, final_rows
from ..figures.summary import column, ema_names, run_summary
from .verdict import NOT_ENOUGH, fmt, row, verdict

# C12 (I): margin of (large LR, WD) over the runner-up after the decay; the pre-decay window as a fraction of the
# large-LR phase and the train-CE ratio over it; the norm bound with WD (max over epochs / initial norm) and the
# relative dip below its running maximum that still counts as non-decreasing without WD; EMA vs final error.
C12_MARGIN = 0.01
C12_WINDOW = 0.2
C12_CE_RATIO = 10.0
C12_NORM_BOUND = 2.0
C12_NORM_DIP = 0.01
C12_EMA_GAP = 0.02
# C13, C14 (I): |Spearman rho| of the monotone relations; the best cells and how many decades of eta*lambda they span.
RHO = 0.8
TOP_CELLS = 3
TOP_DECADES = 1.0
# C15 (I): EMA vs snapshot ensemble, per cell.
C15_ERR_GAP = 0.01
C15_TVD = 0.1
# C16 (I): the EMA may be worse than fine-tuning by at most this much.
C16_SLACK = 0.005

# Quantities of the 'ensemble' measure (MJ6) and the other measured columns of the run summary.
ENSEMBLE_ERR, EMA_ERR, TVD = "ensemble_err", "ema_err", "tvd"
JACOBIAN, SIGMA_SQ = "jacobian_norm.norm", "noise_scale.sigma_sq"


def _iterate(train):
    return train[train.weights == "iterate"]


def _slowest_ema(train) -> str | None:
    """The EMA weight set with the largest coefficient in a training frame (None without EMA)."""
    names = [w for w in train.weights.unique() if w.startswith("ema")]
    return max(names, key=lambda w: float(w.removeprefix("ema")), default=None)


def _panels(frame, family: str):
    """(scope, rows) per model/dataset panel of a family's frame."""
    for (model, dataset), panel in frame.groupby(["model", "dataset"], sort=False):
        yield f"{family} {model}/{dataset}", panel


def _spearman(x, y) -> float:
    """Spearman's rank correlation of two aligned Series (pandas ranks, average ranks on ties)."""
    return float(x.rank().corr(y.rank()))


def _decreasing(values: dict) -> bool:
    """Strictly decreasing in the key."""
    ordered = [values[k] for k in sorted(values)]
    return all(a > b for a, b in zip(ordered, ordered[1:], strict=False))


def _lrs(values: dict) -> str:
    return ", ".join(f"lr {lr:g}: {v:.4g}" for lr, v in sorted(values.items()))


def _cell(r) -> str:
    return f"lr {r.lr:g} wd {r.wd:g}"


def _cells(summary, with_wd: bool = True):
    """Mean over seeds of the numeric summary columns per (lr, wd) cell (only cells with WD by default)."""
    if with_wd:
        summary = summary[summary.wd > 0]
    return summary.groupby(["lr", "wd"]).mean(numeric_only=True).reset_index()


def _has(cells, name: str) -> bool:
    return name in cells.columns and cells[name].notna().any()


def _preferred(cells, metric: str, emas: list[str]) -> str | None:
    """The weights (slowest EMA first, else the iterate) whose ``metric`` column holds values, or None."""
    return next((w for w in [*emas, "iterate"] if _has(cells, column(metric, w))), None)


def _rho_row(claim, check, scope, cells, x: str, y: str, sign: int, label: str) -> dict:
    """A row for 'Spearman rho(x, y) >= RHO' (sign +1) or '<= -RHO' (sign -1) over the cells with both values;
    ``label`` names the pair in 'measured'."""
    both = cells[[x, y]].dropna()
    expected = f"Spearman rho {'>=' if sign > 0 else '<='} {sign * RHO:g}"
    if len(both) < 3:
        return row(claim, check, scope, NOT_ENOUGH, f"{label}: {len(both)} cells", expected + " over >= 3 cells")
    rho = _spearman(both[x], both[y])
    measured = f"{label}: Spearman rho {rho:.3f} over {len(both)} cells"
    return row(claim, check, scope, verdict(sign * rho >= RHO), measured, expected)


def c11(t) -> list[dict]:
    """NeurIPS Fig 1: with WD the final test error is lower than without it at every training-set size."""
    check, expected = "WD lowers the error at every size", "err(WD) < err(no WD) at every train_examples"
    err = final_rows(_iterate(t["N1"])).groupby(["wd", "train_examples"]).test_err.mean()  # mean over seeds
    by_wd = {wd: err.loc[wd].to_dict() for wd in err.index.get_level_values(0).unique()}
    without = by_wd.pop(0.0, {})
    if not by_wd or not without:
        return [row("C11", check, "N1", NOT_ENOUGH, f"no runs {'with' if without else 'without'} WD", expected)]
    rows = []
    for wd, with_wd in sorted(by_wd.items()):
        sizes = sorted(set(with_wd) & set(without))
        alone = sorted(set(with_wd) ^ set(without))
        measured = "; ".join(f"n {n}: {with_wd[n]:.2%} with WD, {without[n]:.2%} without" for n in sizes)
        measured += f" (sizes with one of the two only: {', '.join(map(str, alone))})" if alone else ""
        if not sizes:
            status, measured = NOT_ENOUGH, "no size trained with and without WD" + measured
        else:
            status = verdict(all(with_wd[n] < without[n] for n in sizes))
        rows.append(row("C11", check, f"N1 wd {wd:g}", status, measured, expected))
    return rows


def _mean_epochs(rows, metric: str):
    """Per-epoch mean over seeds of a metric of the iterate."""
    return _iterate(rows).groupby("epoch")[metric].mean()


def _c12_error(scope, configs, decay) -> dict:
    check, expected = "large LR + WD is best after the decay", f"err(large+WD) <= runner-up - {C12_MARGIN:.0%}"
    if decay is None:
        return row("C12", check, scope, NOT_ENOUGH, "the learning rate never decays", expected)
    err = {k: float(final_rows(_iterate(v)).test_err.mean()) for k, v in configs.items()}
    seeds = min(v.seed.nunique() for v in configs.values())
    ranked = sorted(err, key=err.get)
    ok = ranked[0] == "large LR + WD" and err[ranked[1]] - err[ranked[0]] >= C12_MARGIN
    measured = f"final test error (mean over {seeds} seeds): {fmt(err, '%')}"
    return row("C12", check, scope, verdict(ok), measured, expected)


def _c12_ce(scope, configs, decay) -> dict:
    check, expected = "loss stabilisation before the decay", f"CE(large+WD) >= {C12_CE_RATIO:g} x CE(large)"
    if decay is None:
        return row("C12", check, scope, NOT_ENOUGH, "the learning rate never decays", expected)
    start = max(1, int((1 - C12_WINDOW) * decay))
    ce = {}
    for k in ("large LR + WD", "large LR"):
        it = _iterate(configs[k])
        ce[k] = float(it[(it.epoch >= start) & (it.epoch <= decay)].train_ce.mean())
    ratio = ce["large LR + WD"] / ce["large LR"] if ce["large LR"] > 0 else math.inf
    measured = f"mean train CE over epochs {start}-{decay}: {fmt(ce)}; ratio {ratio:.3g}"
    return row("C12", check, scope, verdict(ratio >= C12_CE_RATIO), measured, expected)


def _c12_norms(scope, configs) -> list[dict]:
    bounded, grows = {}, {}
    for k, v in configs.items():
        norm = _mean_epochs(v, "weight_norm").dropna()
        if k.endswith("+ WD") and len(norm):
            bounded[k] = (float(norm.max() / norm.iloc[0]), int(norm.index[0]))
        late = norm[norm.index >= 1]
        if not k.endswith("+ WD") and len(late) >= 2:
            dip = float(1 - (late / late.cummax()).min())
            grows[k] = (dip, float(late.iloc[0]), float(late.iloc[-1]), int(late.index[0]), int(late.index[-1]))
    rows = []
    check, expected = "norm stays bounded with WD", f"max ||w|| <= {C12_NORM_BOUND:g} x ||w|| at the first epoch"
    if len(bounded) < 2:
        rows.append(row("C12", check, scope, NOT_ENOUGH, "no weight norms of both WD configurations", expected))
    else:
        measured = "; ".join(f"{k}: max {r:.3g} x its value at epoch {e}" for k, (r, e) in bounded.items())
        ok = all(r <= C12_NORM_BOUND for r, _ in bounded.values())
        rows.append(row("C12", check, scope, verdict(ok), measured, expected))
    check = "norm grows monotonically without WD"
    expected = f"from epoch 1, never {C12_NORM_DIP:.0%} below its running maximum, and last > first"
    if len(grows) < 2:
        rows.append(row("C12", check, scope, NOT_ENOUGH, "no norm curves of both no-WD configurations", expected))
    else:
        measured = "; ".join(
            f"{k}: {a:.4g} at epoch {ea} -> {b:.4g} at epoch {eb}, deepest dip {dip:.2%}"
            for k, (dip, a, b, ea, eb) in grows.items()
        )
        ok = all(dip <= C12_NORM_DIP and b > a for dip, a, b, _, _ in grows.values())
        rows.append(row("C12", check, scope, verdict(ok), measured, expected))
    return rows


def _c12_ema(scope, configs, decay) -> dict:
    check, expected = "EMA before the decay is close to the final error", f"within {C12_EMA_GAP:.0%}"
    runs = configs["large LR + WD"]
    slow = _slowest_ema(runs)
    if decay is None or slow is None:
        why = "the learning rate never decays" if decay is None else "no EMA"
        return row("C12", check, scope, NOT_ENOUGH, why, expected)
    ema = runs[(runs.weights == slow) & (runs.epoch <= decay)]
    if ema.empty:
        return row("C12", check, scope, NOT_ENOUGH, f"no {slow} evaluation up to epoch {decay}", expected)
    at = int(ema.epoch.max())
    ema_err = float(ema[ema.epoch == at].test_err.mean())
    final = float(final_rows(_iterate(runs)).test_err.mean())
    measured = f"large LR + WD: {slow} at epoch {at}: {ema_err:.2%}; final iterate: {final:.2%}"
    return row("C12", check, scope, verdict(abs(ema_err - final) <= C12_EMA_GAP), measured, expected)


def c12(t) -> list[dict]:
    """NeurIPS Fig 2: on CIFAR-10 and Tiny-ImageNet, large LR + WD is best after the decay, its train CE stays high
    before it, the norm is bounded with WD and grows without, and the EMA before the decay is close to the end."""
    rows = []
    for scope, panel in _panels(t["N2"], "N2"):
        roles = config_roles(_iterate(panel))
        if roles is None:
            rows.append(row("C12", "all", scope, NOT_ENOUGH, "panel is not 2 LRs x (WD, no WD)", ""))
            continue
        configs = {role: panel[(panel.lr == lr) & (panel.wd == wd)] for (lr, wd), role in roles.items()}
        decay = decay_epoch(_iterate(configs["large LR + WD"]))
        rows += [_c12_error(scope, configs, decay), _c12_ce(scope, configs, decay)]
        rows += _c12_norms(scope, configs)
        rows.append(_c12_ema(scope, configs, decay))
    return rows


def _grid_summary(t, family: str):
    return run_summary(t[family], t[f"{family}:measure"])


def c13(t) -> list[dict]:
    """NeurIPS Figs 3, 10: over the eta x lambda grid the EMA's Jacobian norm falls with eta*lambda, and the
    best EMA errors lie along eta*lambda ~ const, away from the grid's border."""
    rows = []
    for scope, panel in _panels(_grid_summary(t, "N3"), "N3"):
        cells, emas = _cells(panel), ema_names(panel)
        slow = emas[0] if emas else None
        jac = column(JACOBIAN, slow or "")
        if slow is None or not _has(cells, jac):
            why = "no EMA" if slow is None else f"no Jacobian norm of {slow}"
            rows.append(row("C13", "EMA Jacobian norm falls with eta*lambda", scope, NOT_ENOUGH, why, ""))
        else:
            check, label = "EMA Jacobian norm falls with eta*lambda", f"||J|| of {slow} vs eta*lambda"
            rows.append(_rho_row("C13", check, scope, cells, "eta_lambda", jac, -1, label))
        err_col = column("test_err", slow or "")
        err = cells.dropna(subset=[err_col]) if err_col in cells else cells.iloc[:0]
        check, expected = "best cells lie along eta*lambda ~ const", f"top {TOP_CELLS} span <= {TOP_DECADES:g} decade"
        if len(err) < TOP_CELLS:
            why = f"{len(err)} cells with an EMA test error"
            rows.append(row("C13", check, scope, NOT_ENOUGH, why, expected))
            rows.append(row("C13", "best cell is interior", scope, NOT_ENOUGH, why, ""))
            continue
        top = err.nsmallest(TOP_CELLS, err_col)
        decades = math.log10(top.eta_lambda.max() / top.eta_lambda.min())
        listed = "; ".join(f"{_cell(r)} (eta*lambda {r.eta_lambda:.3g}): {r[err_col]:.2%}" for _, r in top.iterrows())
        measured = f"{slow} test error of the best cells: {listed}; span {decades:.2f} decades"
        rows.append(row("C13", check, scope, verdict(decades <= TOP_DECADES), measured, expected))
        best = top.iloc[0]
        lrs, wds = sorted(cells.lr.unique()), sorted(cells.wd.unique())
        check, expected = "best cell is interior", "lr and wd of the best cell neither the grid's min nor max"
        measured = f"best {_cell(best)}; grid lr {lrs[0]:g}-{lrs[-1]:g}, wd {wds[0]:g}-{wds[-1]:g}"
        if len(lrs) < 3 or len(wds) < 3:
            rows.append(row("C13", check, scope, NOT_ENOUGH, measured + "; needs >= 3 values of each", expected))
            continue
        ok = lrs[0] < best.lr < lrs[-1] and wds[0] < best.wd < wds[-1]
        rows.append(row("C13", check, scope, verdict(ok), measured, expected))
    return rows


def c14(t) -> list[dict]:
    """NeurIPS Fig 4: the noise scale sigma grows with the train loss and with eta*lambda; the test error has an
    interior optimum in eta*lambda; the Jacobian norm falls with eta*lambda."""
    rows = []
    for scope, panel in _panels(_grid_summary(t, "N3"), "N3"):
        cells, emas = _cells(panel), ema_names(panel)
        sigma, loss = column(SIGMA_SQ, "iterate"), column("train_ce", "iterate")
        for name, x, check in (
            ("train CE", loss, "sigma grows with the train loss"),
            ("eta*lambda", "eta_lambda", "sigma grows with eta*lambda"),
        ):
            if not _has(cells, sigma) or not _has(cells, x):
                rows.append(row("C14", check, scope, NOT_ENOUGH, f"no sigma_sq of the iterate or no {name}", ""))
            else:
                rows.append(_rho_row("C14", check, scope, cells, x, sigma, 1, f"sigma_sq of the iterate vs {name}"))
        weights = _preferred(cells, "test_err", emas)
        check, expected = "test error has an interior optimum in eta*lambda", "argmin not at the smallest/largest"
        err = cells.dropna(subset=[column("test_err", weights)]) if weights else cells.iloc[:0]
        if err.eta_lambda.nunique() < 3:
            rows.append(
                row("C14", check, scope, NOT_ENOUGH, f"{err.eta_lambda.nunique()} values of eta*lambda", expected)
            )
        else:
            best = err.loc[err[column("test_err", weights)].idxmin()]
            lo, hi = err.eta_lambda.min(), err.eta_lambda.max()
            ok = not (
                math.isclose(best.eta_lambda, lo, rel_tol=1e-9) or math.isclose(best.eta_lambda, hi, rel_tol=1e-9)
            )
            measured = (
                f"final {weights} test error: best {best[column('test_err', weights)]:.2%} at eta*lambda "
                f"{best.eta_lambda:.3g} ({_cell(best)}); eta*lambda spans {lo:.3g}-{hi:.3g}"
            )
            rows.append(row("C14", check, scope, verdict(ok), measured, expected))
        weights = _preferred(cells, JACOBIAN, emas)
        check = "Jacobian norm falls with eta*lambda"
        if weights is None:
            rows.append(row("C14", check, scope, NOT_ENOUGH, "no Jacobian norm", ""))
        else:
            label = f"||J|| of {weights} vs eta*lambda"
            rows.append(_rho_row("C14", check, scope, cells, "eta_lambda", column(JACOBIAN, weights), -1, label))
    return rows


def c15(t) -> list[dict]:
    """NeurIPS Tables 2, 3: in every cell the snapshot ensemble errs like the EMA and their outputs are close."""
    m = t["N3:measure"]
    m = m[m.measure == "ensemble"]
    checks = (
        ("EMA errs like the snapshot ensemble", f"|err(EMA) - err(ensemble)| <= {C15_ERR_GAP:.0%} in every cell"),
        ("ensemble and EMA outputs are close", f"TVD <= {C15_TVD:g} in every cell"),
    )
    if m.empty:
        return [row("C15", check, "N3", NOT_ENOUGH, "no ensemble measurement", expected) for check, expected in checks]
    rows = []
    for scope, panel in _panels(m, "N3"):
        slow = _slowest_ema(panel)
        if slow is None:
            rows += [row("C15", c, scope, NOT_ENOUGH, "no ensemble measurement of an EMA", e) for c, e in checks]
            continue
        panel = panel[panel.weights == slow]
        latest = panel[panel.epoch == panel.groupby("run_id").epoch.transform("max")]
        cells = latest.groupby(["lr", "wd", "quantity"]).value.mean().unstack("quantity").reset_index()
        if not {ENSEMBLE_ERR, EMA_ERR, TVD} <= set(cells.columns):
            rows += [
                row("C15", c, scope, NOT_ENOUGH, f"quantities: {', '.join(cells.columns[2:])}", e) for c, e in checks
            ]
            continue
        gap = (cells[EMA_ERR] - cells[ENSEMBLE_ERR]).abs()
        worst = cells.loc[gap.idxmax()]
        measured = (
            f"{len(cells)} cells ({slow}); largest |EMA - ensemble| {gap.max():.2%} at {_cell(worst)} "
            f"(EMA {worst[EMA_ERR]:.2%}, ensemble {worst[ENSEMBLE_ERR]:.2%}); mean {gap.mean():.2%}"
        )
        rows.append(row("C15", checks[0][0], scope, verdict(gap.max() <= C15_ERR_GAP), measured, checks[0][1]))
        worst = cells.loc[cells[TVD].idxmax()]
        measured = (
            f"{len(cells)} cells ({slow}); largest TVD {worst[TVD]:.3g} at {_cell(worst)}; mean {cells[TVD].mean():.3g}"
        )
        rows.append(row("C15", checks[1][0], scope, verdict(worst[TVD] <= C15_TVD), measured, checks[1][1]))
    return rows


def c16(t) -> list[dict]:
    """NeurIPS Figs 14, 15: the EMA is at least as good as fine-tuning the same checkpoint (within 0.5 pp), and at
    the fixed lambda of the LR sweep the EMA's Jacobian norm falls with the learning rate."""
    train, ft = t["N4"], t["N4:finetune"]
    slow = _slowest_ema(train)
    rows = []
    check, expected = "EMA matches fine-tuning", f"err(EMA) <= err(FT) + {C16_SLACK:.1%} at the last fine-tuned epoch"
    ends = ft[(ft.epoch == ft.ft_epochs) & (ft.weights == "iterate")]
    if slow is None or ends.empty:
        why = "no EMA" if slow is None else "no fine-tuning"
        return [row("C16", c, "N4", NOT_ENOUGH, why, "") for c in (check, "EMA Jacobian norm falls with LR")]
    for (lr, wd), cell in ends.groupby(["lr", "wd"]):
        scope, start = f"N4 lr {lr:g} wd {wd:g}", int(cell.from_epoch.max())
        cell = cell[cell.from_epoch == start]
        ema = train[train.run_id.isin(cell.run_id) & (train.weights == slow) & (train.epoch == start)]
        if ema.empty:
            rows.append(row("C16", check, scope, NOT_ENOUGH, f"no {slow} evaluation at epoch {start}", expected))
            continue
        ema_err, ft_err = float(ema.test_err.mean()), float(cell.test_err.mean())
        measured = (
            f"at epoch {start} (mean over {cell.run_id.nunique()} runs): {slow} {ema_err:.2%}, "
            f"fine-tuned from it {ft_err:.2%}"
        )
        rows.append(row("C16", check, scope, verdict(ema_err <= ft_err + C16_SLACK), measured, expected))
    check, expected = "EMA Jacobian norm falls with LR", "strictly decreasing in lr at the wd of the LR sweep"
    lam = ft.groupby("wd").run_id.nunique().idxmax()  # the wd of the LR sweep: shared by most fine-tuned runs
    summary = run_summary(train, t["N4:measure"])
    jac = column(JACOBIAN, slow)
    values = summary[summary.wd == lam].groupby("lr")[jac].mean().dropna().to_dict() if jac in summary else {}
    scope = f"N4 wd {lam:g}"
    if len(values) < 2:
        return rows + [
            row("C16", check, scope, NOT_ENOUGH, f"||J|| of {slow} at {len(values)} learning rates", expected)
        ]
    measured = f"latest ||J|| of {slow}: {_lrs(values)}"
    return rows + [row("C16", check, scope, verdict(_decreasing(values)), measured, expected)]


CLAIMS = {
    "C11": [(("N1",), c11)],
    "C12": [(("N2",), c12)],
    "C13": [(("N3", "N3:measure"), c13)],
    "C14": [(("N3", "N3:measure"), c14)],
    "C15": [(("N3:measure",), c15)],
    "C16": [(("N4", "N4:finetune", "N4:measure"), c16)],
}
