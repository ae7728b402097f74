"""Claim checks of FIGURES.md section 4: each claim is a function over the family tables (pandas frames) that
returns one row per check and scope, with status reproduced / not reproduced / not enough data and the numbers
the verdict rests on. Thresholds are the catalogue's; they are evaluated on whatever preset ran. One module per
part of the paper: ``iclr`` (vision, ICLR), ``measures`` (measurements at checkpoints), ``neurips`` (NeurIPS
vision), ``llm`` (language models); ``verdict`` holds the row and status helpers.

This package does not import pandas itself, so the Snakemake process can ask it which families claims need.
"""

from ..io.provenance import code_version
from . import iclr, llm, measures, neurips
from .verdict import NOT_ENOUGH, NOT_REPRODUCED, REPRODUCED
from .verdict import row as _row

# claim: [(tables it reads, check), ...]. A table is named by its family (training metrics), or family:finetune
# and family:measure for the fine-tuning and measurement tables.
CLAIMS = iclr.CLAIMS | measures.CLAIMS | neurips.CLAIMS | llm.CLAIMS


def families() -> set[str]:
    """Families whose tables some claim reads."""
    return {name.split(":")[0] for variants in CLAIMS.values() for needed, _ in variants for name in needed}


def evaluate(tables: dict, preset: str) -> list[dict]:
    """Rows of every claim; a claim whose families this preset did not train is 'not enough data'."""
    rows = []
    for claim, variants in CLAIMS.items():
        for needed, check in variants:
            missing = [f for f in needed if f not in tables or tables[f].empty]
            if missing:
                rows.append(_row(claim, "all", "", NOT_ENOUGH, f"no table for {', '.join(missing)}", ""))
            else:
                rows += check(tables)
    return [row | {"preset": preset, "code_version": code_version()} for row in rows]


def to_markdown(rows: list[dict]) -> str:
    """A readable table of the claim rows."""
    columns = ["claim", "check", "scope", "status", "measured", "expected"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]).replace("|", "/") for c in columns) + " |" for r in rows]
    counts = {s: sum(r["status"] == s for r in rows) for s in (REPRODUCED, NOT_REPRODUCED, NOT_ENOUGH)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    preset = rows[0]["preset"] if rows else "?"
    return f"# Claims on preset {preset}\n\n{summary}\n\n" + "\n".join(lines) + "\n"
