"""The row every claim check returns (shared by the claim modules): its status, effect, interval and threshold.

A check passes ``row`` an ``stats.Effect`` (the status follows from it) or, when the tables lack what it needs,
the status NOT_ENOUGH; ``measured`` keeps the raw numbers the effect is computed from.
"""

import math

from .stats import CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH, REPRODUCED, STATUSES, Effect, describe, status

__all__ = ["CONTRADICTED", "INCONCLUSIVE", "NOT_ENOUGH", "REPRODUCED", "STATUSES", "fmt", "row"]


def row(claim, check, scope, result, measured, expected) -> dict:
    """A check's row; ``result`` is an Effect, or NOT_ENOUGH when the tables lack what the check needs."""
    if isinstance(result, Effect) and result.n_seeds == 0:
        result = NOT_ENOUGH
    if not isinstance(result, Effect):
        if result != NOT_ENOUGH:
            raise ValueError(f"{claim} {check}: a check's result is an Effect or {NOT_ENOUGH!r}, not {result!r}")
        nan = math.nan
        e = Effect(nan, nan, nan, nan, nan, "", "", (), "none")
        return _row(claim, check, scope, NOT_ENOUGH, e, measured, expected, "")
    return _row(claim, check, scope, status(result), result, measured, expected, describe(result))


def _row(claim, check, scope, verdict, e, measured, expected, effect_text) -> dict:
    return {
        "claim": claim,
        "check": check,
        "scope": scope,
        "status": verdict,
        "effect": float(e.value),
        "low": float(e.low),
        "high": float(e.high),
        "threshold": float(e.threshold),
        "null": float(e.null),
        "kind": e.kind,
        "unit": e.unit,
        "n_seeds": e.n_seeds,
        "seeds": [int(s) for s in e.seeds],
        "interval": e.interval,
        "effect_text": effect_text,
        "measured": measured,
        "expected": expected,
    }


def fmt(values: dict, unit: str = "") -> str:
    """'a 1.2%, b 3.4%' from {name: value} (unit % multiplies by 100)."""
    scale = 100 if unit == "%" else 1
    return ", ".join(f"{k} {v * scale:.3g}{unit}" for k, v in values.items())
