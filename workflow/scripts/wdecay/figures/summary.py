"""One row per run: the run's settings with its final metrics and its latest measurements as columns, the frame
behind heat maps over the lr x wd grid, scatter plots against eta*lambda, and the NeurIPS claims.

Columns: the run fields, ``train_examples``, ``eta_lambda`` (lr * wd of the large-LR phase), then for each weight
set W of the run ``<metric>@W`` (test_err, train_err, train_ce, test_ce, weight_norm at the last evaluated epoch)
and ``<measure>.<quantity>@W`` (the value at the latest checkpoint where that measure was taken). pandas is
imported inside the functions, so that the claims registry stays importable without it.
"""

from .curves import final_rows
from ..io.tables import RUN_FIELDS

METRICS = ("test_err", "train_err", "train_ce", "test_ce", "weight_norm")
RUN_LEVEL = ("lr", "wd", "eta_lambda", "train_examples")  # columns of the run, not of a weight set
RUN_COLUMNS = [f.name for f in RUN_FIELDS]


def column(metric: str, weights: str) -> str:
    """The summary column of a metric (``test_err``, or ``measure.quantity``) of a weight set."""
    return f"{metric}@{weights}"


def run_summary(train, measure=None):
    """The summary frame of the runs of a vision_train frame and, optionally, a measure frame of the same runs."""
    import pandas as pd

    final = final_rows(train)
    runs = final.drop_duplicates("run_id")[[*RUN_COLUMNS, "train_examples"]].set_index("run_id")
    runs["eta_lambda"] = runs.lr * runs.wd
    wide = final.pivot_table(index="run_id", columns="weights", values=list(METRICS), aggfunc="first")
    wide.columns = [column(metric, weights) for metric, weights in wide.columns]
    parts = [runs, wide]
    if measure is not None and not measure.empty:
        latest = measure[measure.epoch == measure.groupby(["run_id", "measure", "weights"]).epoch.transform("max")]
        values = latest.pivot_table(
            index="run_id", columns=["measure", "quantity", "weights"], values="value", aggfunc="first"
        )
        values.columns = [column(f"{m}.{q}", w) for m, q, w in values.columns]
        parts.append(values)
    return pd.concat(parts, axis=1, join="outer").loc[runs.index].reset_index()


def ema_names(summary) -> list[str]:
    """The EMA weight sets present in a summary frame, slowest (largest coefficient) first."""
    names = {c.split("@", 1)[1] for c in summary.columns if "@ema" in c}
    return sorted(names, key=lambda name: -float(name.removeprefix("ema")))
