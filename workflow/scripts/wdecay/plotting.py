"""Figures drawn with seaborn from parquet tables only. Each plot function returns the figure and the exact frame
it drew (one row per seed and epoch), which is saved beside the figure."""

import matplotlib

matplotlib.use("Agg")  # headless, deterministic output

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from .curves import ROLES, config_roles, decay_epoch  # noqa: E402
from .files import atomic_path  # noqa: E402
from .tables import RUN_FIELDS  # noqa: E402

MODEL_NAMES = {"vgg16": "VGG16", "preact_resnet18": "PreAct ResNet-18", "preact_resnet34": "PreAct ResNet-34"}
DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
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
            ax.set_yscale("log")
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


PLOTS = {"seed_curves": seed_curves}


def render(spec: dict, frame):
    return PLOTS[spec["plot"]](spec, frame)


def save(fig, data, pdf_path, png_path, data_path) -> None:
    """Write the figure (pdf, png) and its data (parquet), each atomically."""
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(fig)
    with atomic_path(data_path) as tmp:
        data.to_parquet(tmp, index=False)
