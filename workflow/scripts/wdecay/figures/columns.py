"""The names a figure panel's keys may take, by plot kind: columns of the tables (io/tables.py) and the names the
plot kinds derive (the run summary's columns, an LLM panel's ``gap``). Free of pandas and matplotlib: the plan
checks every panel against them, so that a misspelt column stops the plan rather than the figure job.
"""

import difflib

from ..io import tables
from .summary import METRICS, RUN_LEVEL

GAP = "gap"  # an LLM panel's val_loss - train_loss
LLM_FT_COLUMNS = ("train_loss", "val_loss", GAP)  # the y an LLM panel's fine-tunings can draw
VISION_TABLES = {"train": tables.VISION_TRAIN, "finetune": tables.FINETUNE, "measure": tables.MEASURE}
LLM_RUN_COLUMNS = [f.name for f in tables.LLM_RUN_FIELDS]
LLM_TRAIN_COLUMNS = tables.LLM_TRAIN.names


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _keys(plot: str, panel: dict, measures) -> list[tuple[str, str, list[str]]]:
    """(key, what its names are, the valid names) of each key of ``panel`` that names a column."""
    if plot == "panels":
        table = panel["table"]
        names = VISION_TABLES[table].names
        return [(key, f"a column of the {table} table", names) for key in ("x", "y")]
    if plot == "runs":
        names = [*sorted(RUN_LEVEL), *METRICS, *(f"{m}.<quantity>" for m in measures)]
        keys = ("y",) if panel.get("kind") == "heatmap" else ("x", "y")
        return [(key, "a run setting, a final metric or <measure>.<quantity>", names) for key in keys]
    if plot in ("llm_curves", "llm_final"):
        runs = LLM_RUN_COLUMNS + ["diverged"]
        keys = [("y", "a column of the llm_train table or gap", [*LLM_TRAIN_COLUMNS, GAP])]
        keys.append(("hue", "a run setting of the llm_train table", runs))
        if plot == "llm_final":
            keys.append(("x", "a run setting of the llm_train table", LLM_RUN_COLUMNS))
        else:
            keys += [(key, "a column of the llm_train table", LLM_TRAIN_COLUMNS) for key in ("x", "style")]
        return keys
    return []


def _known(value, names: list[str], measures) -> bool:
    if value in names:
        return True
    measure, dot, quantity = str(value).partition(".")
    return bool(dot and quantity) and f"{measure}.<quantity>" in names and measure in measures


def check_panel(plot: str, panel: dict, measures) -> list[tuple[str, str]]:
    """(key, problem) for each key of a ``plot`` panel naming a column that its table (or plot kind) does not have,
    with the closest valid names; ``measures`` are the measures a runs panel may name."""
    problems = []
    for key, what, names in _keys(plot, panel, measures):
        for value in _as_list(panel.get(key)) if key in panel else []:
            if _known(value, names, measures):
                continue
            guesses = names
            if "." in str(value):  # a measure's quantity: suggest the measure, keep the quantity
                quantity = str(value).partition(".")[2]
                guesses = [n.replace("<quantity>", quantity) for n in names]
            close = difflib.get_close_matches(str(value), guesses, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}?" if close else f"one of: {', '.join(names)}"
            problems.append((key, f"{value!r} is not {what}; {hint}"))
    if plot == "llm_curves" and panel.get("finetune"):
        ys = _as_list(panel.get("y"))
        if panel.get("x", "step") != "step" or not set(ys) & set(LLM_FT_COLUMNS):
            problems.append(("finetune", f"needs x: step and a y among {', '.join(LLM_FT_COLUMNS)}"))
    return problems
