"""Claim checks of FIGURES.md section 4: each claim is a function over the family tables (pandas frames) that
returns one row per check and scope: its effect in the units of its threshold, a 95% interval over seeds (or from
the evaluation noise where a configuration has one seed), the threshold, the seeds used, and one of four statuses
(``stats``): reproduced, contradicted, inconclusive, not enough data. Thresholds are the catalogue's; they are
evaluated on whatever preset ran. One module per part of the paper: ``iclr`` (vision, ICLR), ``measures``
(measurements at checkpoints), ``neurips`` (NeurIPS vision), ``llm`` (language models); ``stats`` holds the
effect, interval and status rule, ``samples`` reads per-seed values from the tables, ``verdict`` builds the rows,
``report`` writes claims.md and claims.html.

This package does not import pandas itself, so the Snakemake process can ask it which families claims need.
"""

from ..io.provenance import code_version
from . import iclr, llm, measures, neurips
from .report import claim_status, summary, to_html, to_markdown
from .verdict import CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH, REPRODUCED, STATUSES
from .verdict import row as _row

__all__ = [
    "ABOUT",
    "CLAIMS",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "NOT_ENOUGH",
    "REPRODUCED",
    "STATUSES",
    "claim_status",
    "evaluate",
    "families",
    "summary",
    "to_html",
    "to_markdown",
]

# claim: [(tables it reads, check), ...]. A table is named by its family (training metrics), or family:finetune
# and family:measure for the fine-tuning and measurement tables.
CLAIMS = iclr.CLAIMS | measures.CLAIMS | neurips.CLAIMS | llm.CLAIMS
# claim: (figure, the claim in words)
ABOUT = iclr.ABOUT | measures.ABOUT | neurips.ABOUT | llm.ABOUT


def families() -> set[str]:
    """Families whose tables some claim reads."""
    return {name.split(":")[0] for variants in CLAIMS.values() for needed, _ in variants for name in needed}


def evaluate(tables: dict, preset: str, protocol: str = "as_run") -> list[dict]:
    """Rows of every claim; a claim whose families this preset did not train is 'not enough data'. Each row also
    carries its claim's status (``claim_status``) and the preset, protocol and code version."""
    rows = []
    for claim, variants in CLAIMS.items():
        for needed, check in variants:
            missing = [f for f in needed if f not in tables or tables[f].empty]
            if missing:
                rows.append(_row(claim, "all", "", NOT_ENOUGH, f"no table for {', '.join(missing)}", ""))
            else:
                rows += check(tables)
    by_claim = {c: claim_status([r["status"] for r in rows if r["claim"] == c]) for c in CLAIMS}
    extra = {"preset": preset, "protocol": protocol, "code_version": code_version()}
    return [row | {"claim_status": by_claim[row["claim"]]} | extra for row in rows]
