"""Claims C01-C02 (ICLR Fig 1, family V1): large LR + WD generalises best, and WD at a large LR holds the training
loss on a plateau before the decay (loss stabilisation). Effects are differences of final test errors in pp
(paired by seed), the ratio of mean train CEs over the pre-decay window, and the largest final train error."""

from ..figures.curves import config_roles, decay_epoch
from . import samples
from .stats import estimate
from .verdict import NOT_ENOUGH, fmt
from .verdict import row as _row

ABOUT = {
    "C01": ("ICLR Fig 1", "a large learning rate with WD generalises best; WD alone (small LR) does not"),
    "C02": ("ICLR Fig 11", "WD at a large LR holds the train loss on a plateau before the decay (loss stabilisation)"),
}


def four_configs(panel):
    """{role: rows} for a panel that crosses two learning rates with WD off and on; None for another shape."""
    roles = config_roles(panel)
    if roles is None:
        return None
    return {role: panel[(panel.lr == lr) & (panel.wd == wd)] for (lr, wd), role in roles.items()}


def v1_panels(frame):
    """(scope name, four configs or None) per model/dataset panel of family V1, iterate rows only."""
    iterate = frame[frame.weights == "iterate"]
    for (model, dataset), panel in iterate.groupby(["model", "dataset"], sort=False):
        yield f"{model}/{dataset}", four_configs(panel)


def _iterate(rows):
    return rows[rows.weights == "iterate"]


def _finals(configs, column, since):
    """{config: Sample of the final value}, with the evaluation noise pooled over the panel's runs."""
    sd = samples.panel_noise([_iterate(v) for v in configs.values()], column)
    return {k: samples.with_noise(samples.final(_iterate(v), column, since=since), sd) for k, v in configs.items()}


BEST = "large LR + WD"


def _lead(err: dict) -> float:
    return min(v for k, v in err.items() if k != BEST) - err[BEST]


def _wd_helps(err: dict) -> float:
    return err["large LR"] - err[BEST]


def _wd_alone(err: dict) -> float:
    return err["small LR + WD"] - err[BEST]


def c01(tables) -> list[dict]:
    """ICLR Fig 1: large LR + WD generalises best; WD helps at large LR; WD alone (small LR) does not."""
    rows = []
    for scope, configs in v1_panels(tables["V1"]):
        if configs is None:
            rows.append(_row("C01", "all", scope, NOT_ENOUGH, "panel is not 2 LRs x (WD, no WD)", ""))
            continue
        err = _finals(configs, "test_err", decay_epoch(_iterate(configs["large LR + WD"])))
        means = samples.seed_means(err)
        seeds = min(len(v.values) for v in err.values())
        measured = f"final test error (mean over {seeds} seeds): {fmt(means, '%')}"
        checks = (
            ("large LR + WD has the lowest test error", _lead, 0.0, "min err of the 3 others - err(large+WD) > 0"),
            ("WD helps at large LR", _wd_helps, 2.0, "err(large) - err(large+WD) >= 2 pp"),
            ("WD alone does not help", _wd_alone, 5.0, "err(small+WD) - err(large+WD) >= 5 pp"),
        )
        for check, f, threshold, expected in checks:
            effect = estimate(err, f, threshold, ">=", 0.0, "pp", scale=100)
            rows.append(_row("C01", check, scope, effect, measured, expected))
    return rows


def c02(tables) -> list[dict]:
    """ICLR Fig 11: loss stabilisation - over the last 20% of the large-LR phase the train CE of large LR + WD
    stays >= 10x above that of large LR without WD; after the decay every configuration fits the training set."""
    rows = []
    for scope, configs in v1_panels(tables["V1"]):
        if configs is None:
            rows.append(_row("C02", "all", scope, NOT_ENOUGH, "panel is not 2 LRs x (WD, no WD)", ""))
            continue
        decay = decay_epoch(_iterate(configs["large LR + WD"]))
        expected = "CE(large+WD) / CE(large) >= 10 before the decay"
        if decay is None:
            rows.append(
                _row("C02", "loss stabilisation", scope, NOT_ENOUGH, "the learning rate never decays", expected)
            )
        else:
            start = int(0.8 * decay)
            ce = {
                k: samples.window(_iterate(configs[k]), "train_ce", start, decay) for k in ("large LR + WD", "large LR")
            }
            means = samples.seed_means(ce)
            ratio = lambda v: v["large LR + WD"] / v["large LR"] if v["large LR"] > 0 else float("inf")  # noqa: E731
            measured = f"mean train CE over epochs {start}-{decay}: {fmt(means)}; ratio {ratio(means):.3g}"
            effect = estimate(ce, ratio, 10.0, ">=", 1.0, "x")
            rows.append(_row("C02", "loss stabilisation", scope, effect, measured, expected))
        train_err = _finals(configs, "train_err", decay)
        measured = f"final train error: {fmt(samples.seed_means(train_err), '%')}"
        effect = estimate(train_err, lambda v: max(v.values()), 1.0, "<=", 1.0, "pp", scale=100)
        rows.append(
            _row("C02", "every configuration fits the training set", scope, effect, measured, "max train error <= 1%")
        )
    return rows


CLAIMS = {"C01": [(("V1",), c01)], "C02": [(("V1",), c02)]}
