"""LLM figures (ICLR F4-F7, F14-F20; NeurIPS F6-F8, F19-F26) from the llm_train and llm_finetune tables.

Two plot kinds, each ``kind(spec, frames) -> (figure, data)`` where ``frames`` holds ``llm_train`` and
``llm_finetune`` (pandas frames of those tables, several families concatenated, or None) and ``data`` is the exact
set of points drawn, saved beside the figure:

``llm_curves``: a metric against the iteration, one line per run.
``llm_final``: one point per run, its final value (mean of its last evaluations) against a run setting.

Figure spec: ``{plot: llm_curves | llm_final, family: L1 | [L1, L4], columns: int (optional), panels: [...]}``.

Panel keys, both kinds:
  title      str, required; shown above the panel and named by every error about it.
  family     str or list; default: the figure's first family.
  y          a column of llm_train, or ``gap`` (= val_loss - train_loss), or a list of them: several on one panel
             get one line style each (e.g. [train_loss, val_loss]).
  ylabel, xlabel   axis labels; defaults name the column.
  logy, logx bool (default false). For llm_final a log x axis holding 0 (e.g. lambda = 0) becomes symlog.
  ylim       [low, high], either may be null: fixed limits, applied last.
  hue        a column whose (readably formatted) value colours the lines; default: a label of the settings that
             vary among the panel's runs, seed excluded (e.g. "λ = 0.1", "λ = 0.1, lr = 1e-3", "ℓ2 = 1e-5", "bf16").
             A mimic run (a ``mimic`` value) says what it mimics instead of its schedule ("mimics λ = 0.1", with
             "λ = 0" before it when wd varies and the precision after it when that varies), so the schedule is
             named only when it varies among the other runs. A label gets "(diverged)", or "(k/n diverged)" when
             only k of its n runs did, from the ``diverged`` column.
  legend     bool (default true).
  filters    wd, lr, l2, mimic, precision, schedule, optimizer, seed, model, context, batch_size, lr_decay_iters,
             max_iters: a list (or a single value) of allowed values, where "max" / "min" stand for the largest /
             smallest value among the panel's families (lr: [max]: the family's largest rate); decay_ln: bool.
             Floats match to 1e-9 relative. A panel that keeps no rows raises ValueError naming its title.

llm_curves only:
  x          a column of llm_train (default ``step``; ``tokens`` also works).
  style      a column for the line style of each run (``seed``: one dash pattern per seed); not with several y,
             which take the line style themselves (e.g. train solid, val dashed).
  seeds      ``lines`` (default): every run its own line (units=run, estimator=None); ``mean``: mean +- sd over
             the runs sharing a colour (and style).
  finetune   bool: also draw each fine-tuning of the panel's runs (llm_finetune), dashed in the run's colour, as
             its loss against from_step + step, for each y among train_loss, val_loss, gap (at least one; other y,
             e.g. ema_train_loss, have none). Needs x = step. The other line styles of the panel avoid its dash.
  ylim_after fraction of the x range after which the y-limits are computed (the first evaluations sit at ~10 nats
             and would flatten the rest); default 0.1 when a y is a loss or the gap, else null (automatic limits).

llm_final only:
  x          a run setting (wd, lr, l2, lr_decay_iters, ...): the x of each run's point; required.
  last       number of final evaluations averaged (default 3).
  Points are joined per colour; several seeds of one setting give mean +- sd. Diverged runs get an extra cross.

Non-finite values (diverged runs log NaN or inf) are not drawn and are not in the returned data; a run's final
value is non-finite, and dropped, when one of its last evaluations is.
"""

import matplotlib

matplotlib.use("Agg")  # headless, deterministic output

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..io.tables import LLM_RUN_FIELDS  # noqa: E402
from .columns import GAP  # noqa: E402
from .columns import LLM_FT_COLUMNS as FT_COLUMNS  # noqa: E402

RUN_COLUMNS = [f.name for f in LLM_RUN_FIELDS]
RUN_KEY = ["family", "run_id"]
FILTERS = ("wd", "lr", "l2", "mimic", "precision", "schedule", "optimizer", "seed", "model", "context", "batch_size")
FILTERS += ("lr_decay_iters", "max_iters")
# Settings a default colour label may name, in the order they are written.
LABEL_COLUMNS = ("wd", "mimic", "l2", "lr", "precision", "schedule", "optimizer", "decay_ln", "lr_decay_iters", "model")
LABEL_COLUMNS += ("context", "batch_size", "max_iters")
MODEL_NAMES = {"gpt2_124m": "GPT-2 124M", "gpt2_774m": "GPT-2 774M"}
OPTIMIZER_NAMES = {"adamw": "AdamW", "sgdm": "SGD + momentum"}
YLABELS = {
    "train_loss": "train loss",
    "val_loss": "validation loss",
    "ema_train_loss": "train loss (EMA weights)",
    "ema_val_loss": "validation loss (EMA weights)",
    "gap": "val loss $-$ train loss",
    "grad_norm": "gradient norm",
    "grad_var": "gradient variance",
    "weight_norm": "$\\|w\\|_2$ (decayed set)",
    "weight_norm_all": "$\\|w\\|_2$ (all parameters)",
    "eff_lr": "effective LR $\\eta_t / \\|w_t\\|_2$",
    "lr_now": "learning rate $\\eta_t$",
}
SERIES_NAMES = {"train_loss": "train", "val_loss": "val", "ema_train_loss": "train (EMA)", "ema_val_loss": "val (EMA)"}
XLABELS = {
    "step": "iteration",
    "tokens": "tokens",
    "wd": "weight decay $\\lambda$",
    "lr": "learning rate",
    "l2": "$\\ell_2$ coefficient",
    "lr_decay_iters": "cosine decay iterations",
}
DASHES = ["", (4, 2), (1, 1.5), (6, 2, 1, 2), (2, 2), (8, 2)]
FT_DASHES = (4, 2)  # fine-tunings; line styles of a panel with fine-tunings skip it


def _num(v) -> str:
    """0.1 -> '0.1', 6e-4 -> '6e-4', 1e-05 -> '1e-5'."""
    v = float(v)
    if v == 0 or not np.isfinite(v) or abs(v) >= 0.01:
        return f"{v:g}"
    mantissa, exponent = f"{v:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _iters(v) -> str:
    v = int(v)
    return f"{v / 1000:g}k" if v >= 1000 and v % 100 == 0 else str(v)


FORMATS = {
    "wd": lambda v: f"λ = {_num(v)}",
    "lr": lambda v: f"lr = {_num(v)}",
    "l2": lambda v: f"ℓ2 = {_num(v)}",
    "mimic": lambda v: "" if pd.isna(v) else f"mimics λ = {_num(v)}",  # "": not a mimic run
    "precision": str,
    "schedule": str,
    "family": str,
    "run_id": str,
    "optimizer": lambda v: OPTIMIZER_NAMES.get(v, str(v)),
    "decay_ln": lambda v: "WD on LayerNorm" if v else "LayerNorm not decayed",
    "lr_decay_iters": lambda v: f"cosine over {_iters(v)}",
    "model": lambda v: MODEL_NAMES.get(v, str(v)),
    "context": lambda v: f"ctx {v}",
    "batch_size": lambda v: f"batch {v}",
    "max_iters": lambda v: f"{_iters(v)} iterations",
    "seed": lambda v: f"seed {v}",
}


def _fmt(column: str, value) -> str:
    if column in FORMATS:
        return FORMATS[column](value)
    return f"{column} = {_num(value) if isinstance(value, float) else value}"


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _allowed(column: pd.Series, values: list) -> pd.Series:
    if pd.api.types.is_float_dtype(column):
        col = column.to_numpy(dtype=float)
        return pd.Series(np.isclose(col[:, None], np.asarray(values, float)[None, :], rtol=1e-9, atol=0).any(1))
    return column.isin(values).reset_index(drop=True)


EXTREMES = {"max": pd.Series.max, "min": pd.Series.min}  # filter values resolved over the panel's families


def select(frame, table: str, spec: dict, panel: dict) -> pd.DataFrame:
    """The rows of ``frame`` that a panel keeps: its families, then its filters."""
    title = panel["title"]
    if frame is None or frame.empty:
        raise ValueError(f"panel {title!r}: no {table} table for this figure")
    families = _as_list(panel.get("family")) or _as_list(spec.get("family"))[:1] or sorted(set(frame.family))
    df = frame.reset_index(drop=True)
    keep = df.family.isin(families).reset_index(drop=True)
    ours = df[keep.to_numpy()]
    for key in FILTERS:
        if key in panel:
            allowed = [
                EXTREMES[v](ours[key]) if isinstance(v, str) and v in EXTREMES else v for v in _as_list(panel[key])
            ]
            keep &= _allowed(df[key], allowed)
    if "decay_ln" in panel:
        keep &= (df.decay_ln == bool(panel["decay_ln"])).fillna(False)
    df = df[keep.to_numpy()]
    if df.empty:
        filters = {k: panel[k] for k in (*FILTERS, "decay_ln") if k in panel}
        raise ValueError(f"panel {title!r}: no {table} rows of families {families} match {filters}")
    return df.reset_index(drop=True)


def values(df: pd.DataFrame, name: str, title: str) -> pd.Series:
    """A column of ``df``, or the derived ``gap``, as floats."""
    if name == GAP:
        return (df.val_loss - df.train_loss).astype(float)
    if name not in df:
        raise ValueError(f"panel {title!r}: no column {name!r} in the table")
    return df[name].astype(float)


def _diverged(df: pd.DataFrame) -> pd.Series:
    """Whether each run (family, run_id) diverged at any of its rows."""
    flag = df.diverged.astype("boolean").fillna(False).astype(bool) if "diverged" in df else False
    return df.assign(_d=flag).groupby(RUN_KEY, sort=False)._d.any()


def _label_columns(runs: pd.DataFrame, exclude) -> list[str]:
    """The settings a default label names: those that vary among the runs; the mimicked lambda whenever a run has
    one, and then the schedule only if it varies among the other runs (a mimic run's label says its schedule)."""
    mimics = runs.mimic.notna() & ("mimic" not in exclude)
    varies = {c: runs[c].nunique(dropna=False) > 1 for c in LABEL_COLUMNS}
    varies["mimic"] = bool(mimics.any())
    varies["schedule"] = runs.schedule[~mimics].nunique() > 1 if mimics.any() else varies["schedule"]
    columns = [c for c in LABEL_COLUMNS if c not in exclude and varies[c]]
    if not columns:
        columns = ["wd"] if "wd" not in exclude and len(runs) else []
    return columns


def run_labels(df: pd.DataFrame, hue, exclude=()) -> tuple[pd.DataFrame, list[str]]:
    """One row per run with its colour ``label`` (and ``diverged``), and the label order. ``hue``: a column, or
    None for a label of the settings that vary among the runs (seed and ``exclude`` left out; see the module
    docstring for mimic runs)."""
    runs = df.drop_duplicates(RUN_KEY)[RUN_COLUMNS].reset_index(drop=True)
    runs = runs.merge(_diverged(df).rename("diverged").reset_index(), on=RUN_KEY)
    if hue is not None:
        if hue not in runs:
            raise ValueError(f"hue {hue!r} is not a run setting")
        columns = [hue]
    else:
        columns = _label_columns(runs, exclude)
    # runs without a mimicked lambda before the runs mimicking one (e.g. L1 at lambda 0, then L9's mimic runs)
    runs = runs.sort_values([*columns, "family", "seed", "run_id"], kind="stable", na_position="first")
    runs = runs.reset_index(drop=True)
    label = pd.Series([""] * len(runs), dtype=object)
    for column in columns:
        part = runs[column].map(lambda v, c=column: _fmt(c, v))
        if hue is None and column == "schedule" and "mimic" in columns:  # a mimic run's schedule is in "mimics"
            part = part.where(runs.mimic.isna(), "")
        label = label.where((label == "") | (part == ""), label + ", ") + part
    if hue is None and len(runs):
        # runs with one label should differ by seed only: name the family, else the run, when they do not
        same = ["label", "seed", *exclude]
        if runs.assign(label=label).duplicated(same).any():
            label = runs.family + ("" if not columns else ": ") + label
        clash = runs.assign(label=label).duplicated(same, keep=False).to_numpy()
        label = label.where(~clash, runs.run_id.astype(str))  # e.g. settings outside LABEL_COLUMNS: name the run
    runs["label"] = label.astype(str)
    order = list(dict.fromkeys(runs.label))
    counts = runs.groupby("label").diverged.agg(["sum", "size"])
    suffix = {
        name: "" if k == 0 else " (diverged)" if k == n else f" ({k}/{n} diverged)"
        for name, (k, n) in counts.iterrows()
    }
    runs["label"] = [name + suffix[name] for name in runs.label]
    return runs[[*RUN_KEY, "label", "diverged"]], [name + suffix[name] for name in order]


def _palette(order: list[str]) -> dict:
    colours = sns.color_palette(n_colors=len(order)) if len(order) <= 10 else sns.color_palette("husl", len(order))
    return dict(zip(order, colours, strict=True))


def _axes(count: int, columns: int | None, size=(4.0, 3.2)):
    columns = min(columns or count, count)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _finite(df: pd.DataFrame) -> pd.DataFrame:
    return df[np.isfinite(df.x.to_numpy(float)) & np.isfinite(df.y.to_numpy(float))]


def _set_ylim(ax, df: pd.DataFrame, after, logy: bool) -> None:
    """Y-limits from the points past ``after`` of the x range (finite, and positive on a log axis)."""
    if after is None or after is False or df.empty:
        return
    x, y = df.x.to_numpy(float), df.y.to_numpy(float)
    lo_x, hi_x = x.min(), x.max()
    y = y[(x >= lo_x + float(after) * (hi_x - lo_x)) & (y > 0 if logy else True)]
    if y.size == 0:
        return
    lo, hi = y.min(), y.max()
    if logy:
        span = max(np.log10(hi / lo), 0.02)
        ax.set_ylim(lo / 10 ** (0.05 * span), hi * 10 ** (0.05 * span))
    else:
        span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.02
        ax.set_ylim(lo - 0.05 * span, hi + 0.05 * span)


def _finish(ax, panel: dict, xlabel: str, ylabel: str, handles: list) -> None:
    if panel.get("logx") and ax.get_xscale() == "linear":
        ax.set_xscale("log")
    if panel.get("logy"):
        ax.set_yscale("log")
    if "ylim" in panel:
        low, high = panel["ylim"]
        ax.set_ylim(bottom=low, top=high)
    ax.set_title(panel["title"], fontsize=9)
    ax.set_xlabel(panel.get("xlabel", xlabel))
    ax.set_ylabel(panel.get("ylabel", ylabel))
    if handles and panel.get("legend", True):
        ax.legend(handles=handles, fontsize=7, title=None)


def _ylabel(ys: list[str]) -> str:
    if len(ys) == 1:
        return YLABELS.get(ys[0], ys[0])
    return "loss" if all("loss" in y for y in ys) else ", ".join(YLABELS.get(y, y) for y in ys)


def _is_loss(name: str) -> bool:
    return "loss" in name or name == GAP


def curve_rows(spec: dict, panel: dict, frames: dict) -> tuple[pd.DataFrame, list[str]]:
    """The points one llm_curves panel draws (training, then fine-tuning) and its colour order."""
    title, ys, x = panel["title"], _as_list(panel["y"]), panel.get("x", "step")
    style = panel.get("style")
    if len(ys) > 1 and style:
        raise ValueError(f"panel {title!r}: several y already take the line style; drop style: {style}")
    train = select(frames.get("llm_train"), "llm_train", spec, panel)
    if x not in train:
        raise ValueError(f"panel {title!r}: no column {x!r} in llm_train")
    if style and style not in train:
        raise ValueError(f"panel {title!r}: no column {style!r} for the line style")
    runs, order = run_labels(train, panel.get("hue"))
    parts = []
    for y in ys:
        part = train[RUN_COLUMNS].assign(
            series=y,
            source="train",
            from_step=pd.Series(pd.NA, index=train.index, dtype="Int64"),
            x=train[x].astype(float),
            y=values(train, y, title),
        )
        parts.append(part)
    if panel.get("finetune"):
        tuned = [y for y in ys if y in FT_COLUMNS]
        if x != "step" or not tuned:
            raise ValueError(f"panel {title!r}: finetune needs x: step and a y among {FT_COLUMNS}")
        ft = frames.get("llm_finetune")
        ft = ft[ft.set_index(RUN_KEY).index.isin(runs.set_index(RUN_KEY).index)] if ft is not None else None
        if ft is None or ft.empty:
            raise ValueError(f"panel {title!r}: no llm_finetune rows for its runs")
        for y in tuned:
            parts.append(
                ft[RUN_COLUMNS].assign(
                    series=y,
                    source="finetune",
                    from_step=ft.from_step.astype("Int64"),
                    x=(ft.from_step + ft.step).astype(float),
                    y=values(ft, y, title),
                )
            )
    data = pd.concat(parts, ignore_index=True).merge(runs[[*RUN_KEY, "label"]], on=RUN_KEY, how="left")
    data = _finite(data)
    if data.empty:
        raise ValueError(f"panel {title!r}: no finite values of {ys}")
    data["panel"] = title
    if len(ys) > 1:
        data["style"] = data.series.map(lambda s: SERIES_NAMES.get(s, s))
    elif style:
        data["style"] = data[style].map(lambda v: _fmt(style, v))
    else:
        data["style"] = ""
    data = data.astype({"panel": str, "series": str, "label": str, "style": str, "source": str})
    return data.reset_index(drop=True), [o for o in order if o in set(data.label)]


def llm_curves(spec: dict, frames: dict):
    """Panels of a metric against the iteration: one colour per setting, one line per run (or the mean over
    seeds), optional line style per y or per seed, fine-tunings dashed. See the module docstring for the keys."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = _axes(len(spec["panels"]), spec.get("columns"))
    drawn = []
    for ax, panel in zip(axes, spec["panels"], strict=True):
        data, order = curve_rows(spec, panel, frames)
        drawn.append(data)
        palette = _palette(order)
        styles = list(dict.fromkeys(data.sort_values(panel.get("style") or [])["style"])) if panel.get("style") else []
        if len(_as_list(panel["y"])) > 1:  # the series in the order given
            styles = [SERIES_NAMES.get(y, y) for y in _as_list(panel["y"]) if y in set(data.series)]
        patterns = DASHES if (data.source == "train").all() else [d for d in DASHES if d != FT_DASHES]
        dashes = {s: patterns[i % len(patterns)] for i, s in enumerate(styles)}
        plot = data.assign(
            unit=data.family
            + "/"
            + data.run_id
            + "/"
            + data.series
            + "/"
            + data.from_step.fillna(-1).astype("int64").astype(str)
        )
        common = dict(x="x", y="y", hue="label", hue_order=order, palette=palette, ax=ax, legend=False)
        main = plot[plot.source == "train"]
        styled = dict(style="style", style_order=styles, dashes=dashes) if styles else {}
        if panel.get("seeds", "lines") == "mean":
            sns.lineplot(main, errorbar="sd", linewidth=1.2, **styled, **common)
        else:
            sns.lineplot(main, units="unit", estimator=None, linewidth=1.2, **styled, **common)
        tuned = plot[plot.source == "finetune"]
        if not tuned.empty:
            sns.lineplot(tuned, units="unit", estimator=None, linewidth=0.9, dashes=FT_DASHES, **common)
        after = panel.get("ylim_after", 0.1 if any(_is_loss(y) for y in _as_list(panel["y"])) else None)
        _set_ylim(ax, data, after, bool(panel.get("logy")))
        handles = [Line2D([], [], color=palette[o], label=o) for o in order if o]
        for s in styles:
            pattern = {"linestyle": "-"} if dashes[s] == "" else {"dashes": dashes[s]}
            handles.append(Line2D([], [], color="0.3", label=s, **pattern))
        if not tuned.empty:
            handles.append(Line2D([], [], color="0.3", dashes=FT_DASHES, linewidth=0.9, label="fine-tuned"))
        x = panel.get("x", "step")
        _finish(ax, panel, XLABELS.get(x, x), _ylabel(_as_list(panel["y"])), handles)
    fig.tight_layout()
    data = pd.concat(drawn, ignore_index=True)
    return fig, data[[*RUN_COLUMNS, "panel", "series", "label", "style", "source", "from_step", "x", "y"]]


def final_rows(spec: dict, panel: dict, frames: dict) -> tuple[pd.DataFrame, list[str]]:
    """One row per run and y of an llm_final panel: the mean of its last ``last`` evaluations."""
    title, ys, x, last = panel["title"], _as_list(panel["y"]), panel.get("x"), int(panel.get("last", 3))
    train = select(frames.get("llm_train"), "llm_train", spec, panel)
    if x not in RUN_COLUMNS:
        raise ValueError(f"panel {title!r}: x must be a run setting ({RUN_COLUMNS}), not {x!r}")
    runs, order = run_labels(train, panel.get("hue"), exclude=(x,))
    train = train.sort_values([*RUN_KEY, "step"], kind="stable")
    parts = []
    for y in ys:
        tail = train.assign(_y=values(train, y, title)).groupby(RUN_KEY, sort=False).tail(last)
        final = tail.groupby(RUN_KEY, sort=False).agg(
            y=("_y", lambda v: v.to_numpy(float).mean()), evals=("_y", "size"), final_step=("step", "max")
        )
        part = train.drop_duplicates(RUN_KEY)[RUN_COLUMNS].merge(final.reset_index(), on=RUN_KEY)
        parts.append(part.assign(series=y, x=part[x].astype(float)))
    data = pd.concat(parts, ignore_index=True).merge(runs, on=RUN_KEY, how="left")
    data = _finite(data)
    if data.empty:
        raise ValueError(f"panel {title!r}: no run has finite final values of {ys}")
    data["panel"] = title
    data["style"] = data.series.map(lambda s: SERIES_NAMES.get(s, s)) if len(ys) > 1 else ""
    data = data.astype({"panel": str, "series": str, "label": str, "style": str, "diverged": bool})
    data = data.astype({"evals": "int64", "final_step": "int64"})
    return data.reset_index(drop=True), [o for o in order if o in set(data.label)]


def llm_final(spec: dict, frames: dict):
    """Panels of each run's final value against a run setting (loss vs lambda, vs lr, ...): one colour per
    remaining setting, mean +- sd over seeds, diverged runs crossed. See the module docstring for the keys."""
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = _axes(len(spec["panels"]), spec.get("columns"))
    drawn = []
    for ax, panel in zip(axes, spec["panels"], strict=True):
        data, order = final_rows(spec, panel, frames)
        drawn.append(data)
        palette = _palette(order) if order != [""] else {"": sns.color_palette()[0]}
        styles = list(dict.fromkeys(s for s in data["style"] if s))
        dashes = {s: DASHES[i % len(DASHES)] for i, s in enumerate(styles)}
        styled = dict(style="style", style_order=styles, dashes=dashes) if styles else {}
        common = dict(x="x", y="y", hue="label", hue_order=order, palette=palette, ax=ax, legend=False)
        sns.lineplot(data, errorbar="sd", marker="o", markersize=5, linewidth=1.2, **styled, **common)
        bad = data[data.diverged]
        if not bad.empty:
            sns.scatterplot(bad, marker="X", s=60, zorder=3, **common)
        if panel.get("logx"):
            positive = data.x[data.x > 0]
            if (data.x <= 0).any() and not positive.empty:
                ax.set_xscale("symlog", linthresh=float(positive.min()))
            else:
                ax.set_xscale("log")
        handles = [Line2D([], [], color=palette[o], marker="o", label=o) for o in order if o]
        for s in styles:
            pattern = {"linestyle": "-"} if dashes[s] == "" else {"dashes": dashes[s]}
            handles.append(Line2D([], [], color="0.3", label=s, **pattern))
        if not bad.empty:
            handles.append(Line2D([], [], color="0.3", marker="X", linestyle="", label="diverged"))
        ys = _as_list(panel["y"])
        _finish(ax, panel, XLABELS.get(panel["x"], panel["x"]), "final " + _ylabel(ys), handles)
    fig.tight_layout()
    data = pd.concat(drawn, ignore_index=True)
    columns = [*RUN_COLUMNS, "panel", "series", "label", "style", "diverged", "evals", "final_step", "x", "y"]
    return fig, data[columns]
