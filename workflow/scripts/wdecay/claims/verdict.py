"""The row every claim check returns, and its three statuses (shared by the claim modules)."""

REPRODUCED, NOT_REPRODUCED, NOT_ENOUGH = "reproduced", "not reproduced", "not enough data"


def row(claim, check, scope, status, measured, expected) -> dict:
    return {
        "claim": claim,
        "check": check,
        "scope": scope,
        "status": status,
        "measured": measured,
        "expected": expected,
    }


def verdict(ok: bool) -> str:
    return REPRODUCED if ok else NOT_REPRODUCED


def fmt(values: dict, unit: str = "") -> str:
    """'a 1.2%, b 3.4%' from {name: value} (unit % multiplies by 100)."""
    scale = 100 if unit == "%" else 1
    return ", ".join(f"{k} {v * scale:.3g}{unit}" for k, v in values.items())
