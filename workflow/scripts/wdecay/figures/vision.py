"""Figures drawn with seaborn from parquet tables only. Each plot function returns the figure and the exact frame
it drew (one row per seed and epoch), which is saved beside the figure."""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # headless, deterministic output

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import seaborn as sns  # noqa: E402

import pandas as pd  # noqa: E402

from . import summary  # noqa: E402
from .curves import ROLES, config_roles, decay_epoch, final_rows  # noqa: E402
from ..io.tables import RUN_FIELDS  # noqa: E402

MODEL_NAMES = {"vgg16": "VGG16", "preact_resnet18": "PreAct ResNet-18", "preact_resnet34": "PreAct ResNet-34"}
DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "tiny_imagenet": "Tiny ImageNet"}
CONFIG_COLOURS = dict(zip(ROLES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"), strict=True))


def panel_name(model: str, dataset: str) -> str:
    return f"{MODEL_NAMES.get(model, model)} on {DATASET_NAMES.get(dataset, dataset)}"


def config_labels(panel):
    """The role of each row ('large LR + WD', ...) in a panel of that shape, else 'lr=.., wd=..'."""
    roles = config_roles(panel)
    if roles is not None:
        return [roles[key] for key in zip(panel.lr, panel.wd, strict=True)]
    return "lr=" + panel.lr.map("{:g}".format) + ", wd=" + panel.wd.map("{:g}".format)


def seed_curves(spec: dict, frame):
    """One panel per model/dataset; one curve per configuration, mean +- sd over seeds."""
    metric = spec["metric"]
    df = frame[frame.weights == spec["weights"]].copy()
    if df.empty:
        raise ValueError(f"no rows with weights == {spec['weights']!r} in family {spec['family']}")
    df["panel"] = [panel_name(m, d) for m, d in zip(df.model, df.dataset, strict=True)]
    panels = list(dict.fromkeys(df.panel))
    df["config"] = ""
    for panel in panels:
        rows = df.panel == panel
        df.loc[rows, "config"] = config_labels(df[rows])

    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.3), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = df[df.panel == panel]
        order = [c for c in CONFIG_COLOURS if c in set(sub.config)] or sorted(sub.config.unique())
        palette = {c: CONFIG_COLOURS.get(c) for c in order} if set(order) <= set(CONFIG_COLOURS) else None
        sns.lineplot(
            sub,
            x="epoch",
            y=metric,
            hue="config",
            hue_order=order,
            palette=palette,
            errorbar="sd",
            ax=ax,
            linewidth=1.2,
        )
        decay = decay_epoch(sub)
        if decay is not None:
            ax.axvline(decay, color="grey", linestyle=":", linewidth=1)
        if spec["logy"]:
            set_log_y(ax, sub[metric])
        lrs = ", ".join(f"{v:g}" for v in sorted(sub.lr.unique(), reverse=True))
        wds = ", ".join(f"{v:g}" for v in sorted(sub.wd.unique()) if v > 0) or "0"
        ax.set_title(f"{panel}\n$\\eta$ = {lrs};  $\\lambda$ = {wds};  {sub.seed.nunique()} seeds", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(spec["ylabel"])
        if ax is not axes[0][0]:
            ax.get_legend().remove()
        else:
            ax.legend(title=None, fontsize=8)
    fig.tight_layout()
    columns = [f.name for f in RUN_FIELDS] + ["epoch", "weights", "panel", "config", metric]
    return fig, df[columns].reset_index(drop=True)


def lr_label(lr: float) -> str:
    return f"$\\eta$ = {lr:g}"


def config_label(lr: float, wd: float) -> str:
    return f"$\\eta$ = {lr:g}, $\\lambda$ = {wd:g}"


def _select(df, panel: dict):
    """Rows of ``df`` kept by a panel's family, dataset, lr and wd filters."""
    keep = df.lr.notna()
    for key in ("family", "dataset"):
        if key in panel:
            keep &= df[key] == panel[key]
    for key in ("lr", "wd"):
        if key in panel:
            keep &= df[key].isin(panel[key])
    return keep


def panel_rows(panel: dict, frames: dict):
    """The rows one panel draws: its table, filtered by weights, measure, quantity and learning rates; a column
    ``x`` (the checkpoint or training epoch, or the lr), ``y`` (the panel's metric) and ``seed`` for the spread."""
    df = frames[panel["table"]]
    if df is None or df.empty:
        raise ValueError(f"panel {panel['title']!r}: no {panel['table']} table for this figure")
    keep = df.weights.isin(panel.get("weights", ["iterate"])) & _select(df, panel)
    if panel.get("runs") == "finetuned":
        keep &= df.run_id.isin(set(frames["finetune"].run_id) if frames["finetune"] is not None else set())
    for key in ("measure", "quantity"):
        if key in panel:
            keep &= df[key] == panel[key]
    df = df[keep].copy()
    if panel["table"] == "finetune":  # one point per checkpoint: the fine-tuned end
        df = df[df.epoch == df.ft_epochs]
        df["epoch"] = df.from_epoch
    if panel.get("final"):  # one point per run: its last evaluated epoch
        df = final_rows(df)
    if df.empty:
        raise ValueError(f"panel {panel['title']!r}: no rows match {panel}")
    df["x"] = df[panel.get("x", "epoch")]
    df["y"] = df[panel["y"]]
    df["panel"] = panel["title"]
    if df.wd.nunique() > 1:  # one colour per configuration
        df["lr_label"] = [config_label(lr, wd) for lr, wd in zip(df.lr, df.wd, strict=True)]
    else:
        df["lr_label"] = df.lr.map(lr_label)
    return df


def set_log_y(ax, values) -> None:
    """A log y axis; symlog (linear below the decade of the smallest non-zero |y|) when some value is <= 0, so that
    a negative estimate (a Hutchinson trace can be one) stays visible, with a line at 0, instead of being dropped."""
    y = pd.Series(values, dtype=float).dropna()
    if (y > 0).all():
        ax.set_yscale("log")
        return
    nonzero = y.abs()[y.abs() > 0]
    linthresh = 10 ** math.floor(math.log10(float(nonzero.min()))) if len(nonzero) else 1.0  # ticks on decades
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.axhline(0, color="grey", linewidth=0.6)


# Section headers seaborn puts among the legend entries when a plot has both hue and style (column names).
LEGEND_HEADERS = {"lr_label", "weights", "hue", "config"}


def tidy_legend(ax) -> None:
    """A legend without a title and without seaborn's hue/style section headers (raw column names)."""
    handles, labels = ax.get_legend_handles_labels()
    kept = [(h, label) for h, label in zip(handles, labels, strict=True) if label not in LEGEND_HEADERS]
    if kept:
        ax.legend(*zip(*kept, strict=True), title=None, fontsize=7)
    else:
        ax.get_legend().remove()


def _axes(count: int, columns: int | None, size=(3.6, 3.2)):
    columns = min(columns or count, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat[:count]


def panels(spec: dict, frames: dict):
    """A row of panels, each one table's metric against the epoch (or the lr), one colour per learning rate and
    one line style per weight set; mean +- sd over seeds, and for estimates (measure table) the mean of the
    per-seed estimates."""
    sns.set_theme(style="whitegrid", context="paper")
    specs, columns = spec["panels"], spec.get("columns")
    if spec.get("rows_by") == "dataset":  # the panels again for each dataset, one row each
        names = list(dict.fromkeys(frames["train"].dataset))
        specs = [
            p | {"dataset": name, "title": f"{p['title']} ({DATASET_NAMES.get(name, name)})"}
            for name in names
            for p in spec["panels"]
        ]
        columns = len(spec["panels"])
    fig, axes = _axes(len(specs), columns)
    drawn = []
    for ax, panel in zip(axes, specs, strict=True):
        df = panel_rows(panel, frames)
        drawn.append(df)
        if panel.get("kind") == "bars":
            sns.barplot(df, x=panel.get("x", "quantity"), y="y", ax=ax, errorbar="sd", color="#4c72b0")
        else:
            hue = None if panel.get("x") == "lr" else "lr_label"
            style = "weights" if df.weights.nunique() > 1 else None
            order = list(dict.fromkeys(df.sort_values(["lr", "wd"]).lr_label))
            sns.lineplot(
                df,
                x="x",
                y="y",
                hue=hue,
                hue_order=order if hue else None,
                style=style,
                errorbar="sd",
                marker="o" if panel.get("x") == "lr" or panel["table"] != "train" else None,
                markersize=4,
                ax=ax,
                linewidth=1.2,
            )
            on_epochs = panel.get("x", "epoch") == "epoch"  # the decay is an epoch: marked on epoch axes only
            decay = decay_epoch(df) if on_epochs and panel["table"] == "train" and "lr_now" in df else None
            if decay is not None:
                ax.axvline(decay, color="grey", linestyle=":", linewidth=1)
        if panel.get("x") == "lr":
            ax.set_xscale("log")
        if panel.get("logy"):
            set_log_y(ax, df.y)
        ax.set_title("\n".join(textwrap.wrap(panel["title"], 48)), fontsize=9)  # a long title stays on the panel
        x = panel.get("x", "epoch")
        ax.set_xlabel(panel.get("xlabel", {"lr": "learning rate", "epoch": "epoch"}.get(x, x)))
        ax.set_ylabel(panel["ylabel"])
        if x == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        if ax.get_legend() is not None:
            tidy_legend(ax)
    fig.tight_layout()
    data = pd.concat(drawn, ignore_index=True)
    columns = [f.name for f in RUN_FIELDS] + ["panel", "weights", "x", "y"]
    return fig, data[columns]


def summary_values(panel: dict, table, axis: str):
    """A panel's x or y over the run summary: a run column, or a metric of the panel's weight set."""
    name = panel[axis]
    if name in summary.RUN_LEVEL:
        return table[name]
    col = summary.column(name, panel.get("weights", ["iterate"])[0])
    if col not in table:
        raise ValueError(f"panel {panel['title']!r}: no {col} in the runs of this figure")
    return table[col]


def summary_rows(panel: dict, table):
    """The runs a summary panel draws, with columns x and y (mean over seeds is left to the plot)."""
    df = table[_select(table, panel)].copy()
    if panel.get("kind") == "heatmap":
        df["x"], df["y"], df["value"] = df.lr, df.wd, summary_values(panel, df, "y")
    else:
        df["x"], df["y"] = summary_values(panel, df, "x"), summary_values(panel, df, "y")
        df["value"] = df.y
    df = df.dropna(subset=["x", "y", "value"])
    if df.empty:
        raise ValueError(f"panel {panel['title']!r}: no runs with values for {panel}")
    df["panel"] = panel["title"]
    df["weights"] = panel.get("weights", ["iterate"])[0]
    return df


def _heatmap(ax, df, panel):
    grid = df.pivot_table(index="y", columns="x", values="value", aggfunc="mean").sort_index(ascending=False)
    scale = 100 if panel.get("percent") else 1
    sns.heatmap(
        grid * scale,
        annot=True,
        fmt=".3g",
        cmap=panel.get("cmap", "viridis"),
        ax=ax,
        cbar_kws={"label": panel["ylabel"]},
        annot_kws={"fontsize": 7},
    )
    ax.set_xticklabels([f"{v:g}" for v in grid.columns], rotation=45)
    ax.set_yticklabels([f"{v:g}" for v in grid.index], rotation=0)
    ax.set_xlabel("learning rate $\\eta$")
    ax.set_ylabel("weight decay $\\lambda$")


def runs(spec: dict, frames: dict):
    """Panels over the run summary (one row per run: final metrics, latest measurements): heat maps over the
    lr x wd grid (mean over seeds), scatter plots of one quantity against another, or lines against a run
    setting coloured by ``hue`` (mean +- sd over seeds)."""
    table = summary.run_summary(frames["train"], frames["measure"])
    sns.set_theme(style="whitegrid", context="paper")
    specs = spec["panels"]
    fig, axes = _axes(len(specs), spec.get("columns"), size=(4.2, 3.4))
    drawn = []
    for ax, panel in zip(axes, specs, strict=True):
        df = summary_rows(panel, table)
        drawn.append(df)
        kind = panel.get("kind", "scatter")
        if kind == "heatmap":
            _heatmap(ax, df, panel)
        else:
            hue = panel.get("hue", "wd")
            df["hue"] = hue + " = " + df[hue].map("{:g}".format)
            draw = sns.lineplot if kind == "lines" else sns.scatterplot
            extra = {"errorbar": "sd", "marker": "o"} if kind == "lines" else {"s": 25}
            draw(df, x="x", y="y", hue="hue", ax=ax, **extra)
            ax.set_xlabel(panel.get("xlabel", panel["x"]))
            ax.set_ylabel(panel["ylabel"])
            if panel.get("logx"):
                ax.set_xscale("log")
            if panel.get("logy"):
                set_log_y(ax, df.y)
            if ax.get_legend() is not None:
                tidy_legend(ax)
        ax.set_title(panel["title"], fontsize=9)
    fig.tight_layout()
    data = pd.concat(drawn, ignore_index=True)
    columns = [f.name for f in RUN_FIELDS] + ["panel", "weights", "x", "y", "value"]
    return fig, data[columns]
