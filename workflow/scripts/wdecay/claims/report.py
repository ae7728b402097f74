"""The readable claim tables: one line per claim (its status summarising its checks), then every check; as
Markdown (results/claims.md) and as HTML (results/claims.html, which the Snakemake report shows)."""

import html
import math

from .stats import CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH, REPRODUCED, STATUSES

CLAIM_RULE = (
    "A claim is **contradicted** if any of its checks is, **reproduced** if all of its checks are, "
    "**not enough data** if none of its checks had the data, and **inconclusive** otherwise."
)
CHECK_RULE = (
    "Each check reports its effect in the units of its threshold with a 95% interval: a Student t interval over "
    "the per-seed effects (paired by seed) where the configurations share two or more seeds; with one seed, a "
    "simulation from the noise of each value, estimated from the neighbouring evaluations of its curve or the "
    "standard error of a measurement (evaluation noise only, not seed-to-seed variation); Fisher's z over the "
    "cells for a rank correlation. **reproduced**: the effect clears the threshold in the claimed direction and "
    "the interval excludes no effect (0 for a difference, 1 for a ratio, the bound itself for a bound on one "
    "quantity); **contradicted**: the whole interval lies on the wrong side of no effect; a closeness check "
    "(|effect| <= tolerance) is reproduced when the whole interval lies within the tolerance and contradicted "
    "when it lies wholly outside; **inconclusive**: anything else, including a check without an interval."
)


def claim_status(statuses: list[str]) -> str:
    """A claim's status from its checks' (CLAIM_RULE)."""
    if not statuses or all(s == NOT_ENOUGH for s in statuses):
        return NOT_ENOUGH
    if CONTRADICTED in statuses:
        return CONTRADICTED
    return REPRODUCED if all(s == REPRODUCED for s in statuses) else INCONCLUSIVE


def _decisive(rows: list[dict], status: str) -> dict:
    """The check that decides a claim's status: the first contradicted one, else the first that is not
    reproduced, else the first."""
    for wanted in (CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH):
        hit = next((r for r in rows if r["status"] == wanted), None)
        if hit is not None and (wanted != NOT_ENOUGH or status != REPRODUCED):
            return hit
    return rows[0]


def summary(rows: list[dict], about: dict) -> list[dict]:
    """One record per claim: id, figure, words, status, counts of its checks' statuses, the decisive numbers."""
    out = []
    for claim in dict.fromkeys(r["claim"] for r in rows):
        mine = [r for r in rows if r["claim"] == claim]
        status = claim_status([r["status"] for r in mine])
        counts = {s: sum(r["status"] == s for r in mine) for s in STATUSES}
        decisive = _decisive(mine, status)
        where = f"{decisive['check']}" + (f" ({decisive['scope']})" if decisive["scope"] else "")
        numbers = decisive["effect_text"] or decisive["measured"]
        figure, words = about.get(claim, ("", ""))
        tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        out.append(
            {
                "claim": claim,
                "figure": figure,
                "words": words,
                "status": status,
                "checks": f"{len(mine)} check{'s' if len(mine) != 1 else ''}: {tally}",
                "decisive": f"{where}: {numbers}",
            }
        )
    return out


def _counts(items: list[dict]) -> str:
    return ", ".join(f"{sum(r['status'] == s for r in items)} {s}" for s in STATUSES)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _header(rows: list[dict]) -> tuple[str, str]:
    preset = rows[0]["preset"] if rows else "?"
    protocol = rows[0].get("protocol", "as_run") if rows else "?"
    return preset, protocol


def to_markdown(rows: list[dict], about: dict | None = None) -> str:
    """claims.md: the claim lines, the rules, then every check."""
    from . import ABOUT

    claims = summary(rows, ABOUT if about is None else about)
    preset, protocol = _header(rows)
    lines = [
        f"# Claims on preset {preset} (protocol {protocol})",
        "",
        f"Claims: {_counts(claims)}. Checks: {_counts(rows)}.",
        "",
        CLAIM_RULE,
        "",
        "| claim | figure | the paper says | status | checks | decisive numbers |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(_cell(c[k]) for k in ("claim", "figure", "words", "status", "checks", "decisive")) + " |"
        for c in claims
    ]
    lines += ["", "## The checks", "", CHECK_RULE, ""]
    columns = ["claim", "check", "scope", "status", "effect_text", "measured", "expected"]
    names = ["claim", "check", "scope", "status", "effect [95% interval] vs threshold", "measured", "expected"]
    lines += ["| " + " | ".join(names) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_html(rows: list[dict], about: dict | None = None) -> str:
    """claims.html: the same tables as a standalone page (the Snakemake report embeds it)."""
    from . import ABOUT

    claims = summary(rows, ABOUT if about is None else about)
    preset, protocol = _header(rows)
    colour = {REPRODUCED: "#d9f2d9", CONTRADICTED: "#f7d4d4", INCONCLUSIVE: "#fff3cd", NOT_ENOUGH: "#e8e8e8"}

    def table(items, keys, names):
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(
            f'<tr style="background:{colour.get(r["status"], "white")}">'
            + "".join(f"<td>{html.escape(_text(r[k]))}</td>" for k in keys)
            + "</tr>"
            for r in items
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    style = "body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} td,th{border:1px solid #bbb;"
    style += "padding:3px 6px;vertical-align:top;text-align:left}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Claims</title><style>{style}</style></head><body>"
        f"<h1>Claims on preset {html.escape(preset)} (protocol {html.escape(protocol)})</h1>"
        f"<p>Claims: {_counts(claims)}. Checks: {_counts(rows)}.</p><p>{_plain(CLAIM_RULE)}</p>"
        + table(
            claims,
            ["claim", "figure", "words", "status", "checks", "decisive"],
            ["claim", "figure", "the paper says", "status", "checks", "decisive numbers"],
        )
        + f"<h2>The checks</h2><p>{_plain(CHECK_RULE)}</p>"
        + table(
            rows,
            ["claim", "check", "scope", "status", "effect_text", "measured", "expected"],
            ["claim", "check", "scope", "status", "effect [95% interval] vs threshold", "measured", "expected"],
        )
        + "</body></html>\n"
    )


def _text(value) -> str:
    return "" if isinstance(value, float) and math.isnan(value) else str(value)


def _plain(text: str) -> str:
    return html.escape(text.replace("**", ""))
