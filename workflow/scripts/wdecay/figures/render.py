"""A figure job's entry: the plot kinds by name, drawing one figure from its frames, and writing it (pdf, png and
the exact data drawn, each atomically)."""

import matplotlib

matplotlib.use("Agg")  # headless, deterministic output

import matplotlib.pyplot as plt  # noqa: E402

from ..io.files import atomic_path  # noqa: E402
from ..io.joblog import phase  # noqa: E402
from . import drawings, llm, vision  # noqa: E402

PLOTS = {
    "seed_curves": vision.seed_curves,
    "panels": vision.panels,
    "runs": vision.runs,
    "cartoon": drawings.cartoon,
    "related_work": drawings.related_work,
    "llm_curves": llm.llm_curves,
    "llm_final": llm.llm_final,
}


@phase("render")
def render(spec: dict, frames: dict):
    """Draw a figure from its frames: {'train': ..., 'finetune': ..., 'measure': ...} (None where absent)."""
    if spec["plot"] == "seed_curves":
        return vision.seed_curves(spec, frames["train"])
    return PLOTS[spec["plot"]](spec, frames)


@phase("write")
def save(fig, data, pdf_path, png_path, data_path) -> None:
    """Write the figure (pdf, png) and its data (parquet), each atomically."""
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(fig)
    with atomic_path(data_path) as tmp:
        data.to_parquet(tmp, index=False)
