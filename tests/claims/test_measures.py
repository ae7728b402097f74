"""Claims C03-C10 on synthetic tables shaped like the pipeline's (train, finetune and measure frames)."""

import pandas as pd
import pytest
from wdecay import claims
from wdecay.claims import measures
from wdecay.claims.verdict import CONTRADICTED, INCONCLUSIVE, REPRODUCED

FAILED = (CONTRADICTED, INCONCLUSIVE)  # the two ways a check with data can fail

EPOCHS, DECAY = 20, 10


def train_rows(family, lrs, final_err, norm=lambda lr, e: 1.0, ema_err=None, ema_ce=None):
    rows = []
    for lr in lrs:
        for epoch in range(EPOCHS + 1):
            base = {
                "family": family,
                "run_id": f"{family}_{lr}",
                "seed": 0,
                "lr": lr,
                "epoch": epoch,
                "lr_now": lr if epoch <= DECAY else 1e-4,
            }
            err = final_err[lr] if epoch > DECAY else 0.4  # settled after the decay
            rows.append(
                base
                | {
                    "weights": "iterate",
                    "ema_coef": None,
                    "test_err": err,
                    "train_ce": 0.5,
                    "weight_norm": norm(lr, epoch),
                }
            )
            if ema_err is not None:
                for coef in (0.999, 0.95):
                    rows.append(
                        base
                        | {
                            "weights": f"ema{coef:g}",
                            "ema_coef": coef,
                            "test_err": ema_err[lr] if epoch >= 1 else 0.9,
                            "train_ce": ema_ce[lr],
                            "weight_norm": norm(lr, epoch),
                        }
                    )
    return pd.DataFrame(rows)


def finetune_rows(family, lrs, err_first, err_last, checkpoints=(0, 4, 8)):
    """Fine-tuned errors falling linearly from err_first to err_last over the checkpoints."""
    rows = []
    for lr in lrs:
        for i, start in enumerate(checkpoints):
            err = err_first + (err_last - err_first) * i / (len(checkpoints) - 1)
            for epoch in (0, 5):
                rows.append(
                    {
                        "family": family,
                        "run_id": f"{family}_{lr}",
                        "seed": 0,
                        "lr": lr,
                        "weights": "iterate",
                        "epoch": epoch,
                        "ft_epochs": 5,
                        "from_epoch": start,
                        "test_err": err,
                    }
                )
    return pd.DataFrame(rows)


def measure_rows(family, values):
    """values: {(measure, quantity, weights): {lr: [value per checkpoint 0, 4, 8]}}"""
    rows = []
    for (measure, quantity, weights), per_lr in values.items():
        for lr, series in per_lr.items():
            for epoch, value in zip((0, 4, 8), series, strict=True):
                rows.append(
                    {
                        "family": family,
                        "run_id": f"{family}_{lr}",
                        "seed": 0,
                        "lr": lr,
                        "epoch": epoch,
                        "weights": weights,
                        "measure": measure,
                        "quantity": quantity,
                        "value": value,
                        "stderr": 0.01 * abs(value),  # probe noise of 1%
                    }
                )
    return pd.DataFrame(rows)


V2_LRS, V3_LRS, V4_LRS = [1e-4, 1e-3, 5e-3], [1e-3, 3e-3, 5e-3], [0.1, 0.15, 0.2]


def paper_like():
    v2_err = {1e-4: 0.14, 1e-3: 0.105, 3e-3: 0.128, 5e-3: 0.159}
    v4_norm = lambda lr, e: 30.0 if e == 0 else 10.0  # noqa: E731
    decreasing = {lr: [100.0, 60.0, 40.0] for lr in V4_LRS}
    return {
        "V2": train_rows("V2", sorted(set(V2_LRS + V3_LRS)), v2_err),
        "V2:finetune": finetune_rows("V2", V3_LRS, 0.2, 0.12),
        "V2:measure": pd.concat(
            [
                measure_rows("V2", {("hessian_trace", "trace", "finetuned"): {lr: [2e5, 1e5, 5e4] for lr in V3_LRS}}),
                pd.DataFrame(
                    [
                        {
                            "family": "V2",
                            "run_id": "V2_0.005",
                            "seed": 0,
                            "lr": 5e-3,
                            "epoch": 1,
                            "weights": "iterate",
                            "measure": "hessian_noise",
                            "quantity": f"cos_{q}",
                            "value": v,
                            "stderr": 0.01,
                        }
                        for q, v in (("H", 0.8), ("G", 0.85), ("E", 0.1))
                    ]
                ),
            ]
        ),
        "V4": train_rows(
            "V4",
            V4_LRS,
            {0.1: 0.103, 0.15: 0.115, 0.2: 0.148},
            norm=v4_norm,
            ema_err={0.1: 0.10, 0.15: 0.12, 0.2: 0.14},
            ema_ce={0.1: 0.17, 0.15: 0.30, 0.2: 0.42},
        ),
        "V4:finetune": finetune_rows("V4", V4_LRS, 0.2, 0.12),
        "V4:measure": measure_rows(
            "V4",
            {
                ("hessian_trace", "trace", "finetuned"): decreasing,
                ("hessian_trace", "trace", "iterate"): {0.1: [30, 30, 30], 0.15: [20, 20, 20], 0.2: [10, 10, 10]},
                ("hessian_trace", "trace", "ema0.95"): {0.1: [30, 30, 30], 0.15: [20, 20, 20], 0.2: [10, 10, 10]},
                ("hessian_trace", "trace", "ema0.999"): {0.1: [10, 10, 10], 0.15: [20, 20, 20], 0.2: [30, 30, 30]},
                ("jacobian_norm", "norm", "finetuned"): decreasing,
                ("jacobian_norm", "norm", "ema0.999"): {0.1: [9, 9, 9], 0.15: [8, 8, 8], 0.2: [7, 7, 7]},
            },
        ),
    }


def measure_claims(tables):
    return [r for r in claims.evaluate(tables, "test") if r["claim"] in measures.CLAIMS]


def test_paper_like_tables_reproduce_c03_to_c10():
    rows = measure_claims(paper_like())
    bad = [(r["claim"], r["check"], r["scope"], r["measured"]) for r in rows if r["status"] != REPRODUCED]
    assert not bad
    assert {r["claim"] for r in rows} == {f"C{i:02d}" for i in range(3, 11)}
    assert sum(r["claim"] == "C05" for r in rows) == 2 * (3 + 3)  # trace and FT error, per lr, V2 and V4


@pytest.mark.parametrize(
    "claim,check",
    [
        ("C03", "interior minimum"),
        ("C08", "trace at ema0.999 does not decrease with LR"),
        ("C10", "G aligns better than E"),
    ],
)
def test_a_changed_number_fails_its_check(claim, check):
    tables = paper_like()
    for key, frame in tables.items():
        tables[key] = frame.copy()
    frame_key = {"C03": "V2", "C08": "V4:measure", "C10": "V2:measure"}[claim]
    frame = tables[frame_key]
    if claim == "C03":
        frame.loc[(frame.lr == 1e-4) & (frame.epoch > DECAY) & (frame.weights == "iterate"), "test_err"] = 0.05
    elif claim == "C08":
        frame.loc[frame.weights == "ema0.999", "value"] = frame.loc[frame.weights == "ema0.999", "lr"].map(
            {0.1: 30.0, 0.15: 20.0, 0.2: 10.0}
        )
    else:
        frame.loc[frame.quantity == "cos_E", "value"] = 0.9
    rows = measure_claims(tables)
    failed = {(r["claim"], r["check"]) for r in rows if r["status"] in FAILED}
    assert (claim, check) in failed
    assert all(c == claim for c, _ in failed)
    # the reversed order lies wholly on the wrong side of no effect: the data contradict the check
    assert {r["status"] for r in rows if (r["claim"], r["check"]) == (claim, check)} == {CONTRADICTED}
