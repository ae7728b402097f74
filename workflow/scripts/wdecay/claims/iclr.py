"""Claims C01-C02 (ICLR Fig 1, family V1): large LR + WD generalises best, and WD at a large LR holds the training
loss on a plateau before the decay (loss stabilisation)."""

from ..figures.curves import config_roles, decay_epoch, final_rows
from .verdict import NOT_ENOUGH, fmt
from .verdict import row as _row
from .verdict import verdict as _verdict


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


def _mean_final(rows, column) -> float:
    return float(final_rows(rows)[column].mean())


def _fmt_configs(values: dict, unit="%") -> str:
    return fmt(values, unit)


def c01(tables) -> list[dict]:
    """ICLR Fig 1: large LR + WD generalises best; WD helps at large LR; WD alone (small LR) does not."""
    rows = []
    for scope, configs in v1_panels(tables["V1"]):
        if configs is None:
            rows.append(_row("C01", "all", scope, NOT_ENOUGH, "panel is not 2 LRs x (WD, no WD)", ""))
            continue
        err = {k: _mean_final(v, "test_err") for k, v in configs.items()}
        seeds = min(v.seed.nunique() for v in configs.values())
        measured = f"final test error (mean over {seeds} seeds): {_fmt_configs(err)}"
        best = min(err, key=err.get)
        rows += [
            _row(
                "C01",
                "large LR + WD has the lowest test error",
                scope,
                _verdict(best == "large LR + WD" and list(err.values()).count(err[best]) == 1),
                measured,
                "err(large+WD) < err of the 3 other configs",
            ),
            _row(
                "C01",
                "WD helps at large LR",
                scope,
                _verdict(err["large LR"] - err["large LR + WD"] >= 0.02),
                measured,
                "err(large) - err(large+WD) >= 2 pp",
            ),
            _row(
                "C01",
                "WD alone does not help",
                scope,
                _verdict(err["small LR + WD"] - err["large LR + WD"] >= 0.05),
                measured,
                "err(small+WD) - err(large+WD) >= 5 pp",
            ),
        ]
    return rows


def c02(tables) -> list[dict]:
    """ICLR Fig 11: loss stabilisation - over the last 20% of the large-LR phase the train CE of large LR + WD
    stays >= 10x above that of large LR without WD; after the decay every configuration fits the training set."""
    rows = []
    for scope, configs in v1_panels(tables["V1"]):
        if configs is None:
            rows.append(_row("C02", "all", scope, NOT_ENOUGH, "panel is not 2 LRs x (WD, no WD)", ""))
            continue
        decay = decay_epoch(configs["large LR + WD"])
        if decay is None:
            rows.append(_row("C02", "loss stabilisation", scope, NOT_ENOUGH, "the learning rate never decays", ""))
        else:
            start = int(0.8 * decay)
            window = {k: configs[k] for k in ("large LR + WD", "large LR")}
            ce = {k: float(v[(v.epoch >= start) & (v.epoch <= decay)].train_ce.mean()) for k, v in window.items()}
            ratio = ce["large LR + WD"] / ce["large LR"] if ce["large LR"] > 0 else float("inf")
            rows.append(
                _row(
                    "C02",
                    "loss stabilisation",
                    scope,
                    _verdict(ratio >= 10),
                    f"mean train CE over epochs {start}-{decay}: {_fmt_configs(ce, '')}; ratio {ratio:.3g}",
                    "CE(large+WD) >= 10 x CE(large) before the decay",
                )
            )
        final_err = {k: _mean_final(v, "train_err") for k, v in configs.items()}
        rows.append(
            _row(
                "C02",
                "every configuration fits the training set",
                scope,
                _verdict(max(final_err.values()) <= 0.01),
                f"final train error: {_fmt_configs(final_err)}",
                "train error <= 1% after the decay",
            )
        )
    return rows


CLAIMS = {"C01": [(("V1",), c01)], "C02": [(("V1",), c02)]}
