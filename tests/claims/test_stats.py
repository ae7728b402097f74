"""The statistics of the claim checks: t quantiles, intervals, the status rule, and a real check (C01 "WD helps at
large LR", threshold 2 pp) on synthetic V1 tables whose truth is known."""

import math

import numpy as np
import pandas as pd
import pytest
from wdecay import claims
from wdecay.claims import stats
from wdecay.claims.stats import CONTRADICTED, INCONCLUSIVE, REPRODUCED, Effect, Sample, estimate, status


@pytest.mark.parametrize(
    "df,quantile",
    # Student t 97.5% quantiles from the standard tables (e.g. NIST/SEMATECH e-Handbook, Table 1.4.2.3)
    [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (10, 2.228), (29, 2.045), (30, 2.042), (40, 2.021),
     (60, 2.000), (100, 1.984), (120, 1.980), (10_000, 1.960)],
)  # fmt: skip
def test_t_quantiles_match_the_tables(df, quantile):
    assert stats.t975(df) == pytest.approx(quantile, abs=1.5e-3)


def test_t_quantiles_need_a_degree_of_freedom():
    with pytest.raises(ValueError, match="df >= 1"):
        stats.t975(0)


def test_t_interval_of_known_values():
    mean, low, high = stats.t_interval([1.0, 2.0, 3.0])  # sd 1, se 1/sqrt(3), t_2 = 4.303
    assert mean == 2.0 and high - mean == pytest.approx(4.303 / math.sqrt(3), rel=1e-4) and low == 4 - high


def test_curve_noise_ignores_trends_and_reads_white_noise():
    assert stats.curve_noise([1.0, 2.0]) is None
    line = [5.0 - 0.1 * i for i in range(20)]
    assert stats.curve_noise(line) == pytest.approx(0.0, abs=1e-12)
    parabola = [0.01 * i * i for i in range(20)]
    assert stats.curve_noise(parabola) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    noisy = (np.linspace(3, 2, 4000) + rng.normal(0, 0.05, 4000)).tolist()
    assert stats.curve_noise(noisy) == pytest.approx(0.05, rel=0.05)


def effect(value, low, high, threshold=2.0, kind=">=", null=0.0):
    return Effect(value, low, high, threshold, null, kind, "pp", (0, 1), stats.T_SEEDS)


@pytest.mark.parametrize(
    "e,expected",
    [
        (effect(3.0, 1.0, 5.0), REPRODUCED),  # clears 2 pp, interval above 0
        (effect(3.0, -1.0, 7.0), INCONCLUSIVE),  # clears 2 pp, interval holds 0
        (effect(1.0, 0.5, 1.5), INCONCLUSIVE),  # right direction, below the threshold
        (effect(-3.0, -5.0, -1.0), CONTRADICTED),  # interval wholly below 0
        (effect(3.0, math.nan, math.nan), INCONCLUSIVE),  # no interval
        (effect(-3.0, -5.0, -1.0, 0.0, "<="), REPRODUCED),  # a claimed decrease
        (effect(0.5, 0.2, 0.8, 1.0, "<=", 1.0), REPRODUCED),  # a bound: train error <= 1%
        (effect(1.5, 1.2, 1.8, 1.0, "<=", 1.0), CONTRADICTED),
        (effect(0.9, 0.5, 1.3, 1.0, "<=", 1.0), INCONCLUSIVE),
        (effect(0.2, -0.5, 0.9, 1.0, "within"), REPRODUCED),  # |effect| <= 1
        (effect(2.0, 1.5, 2.5, 1.0, "within"), CONTRADICTED),
        (effect(0.8, 0.1, 1.5, 1.0, "within"), INCONCLUSIVE),
        (effect(0.025, 0.02, 0.03, 0.015, "within", 0.025), REPRODUCED),  # a band 0.01-0.04
    ],
)
def test_status_rule(e, expected):
    assert status(e) == expected


def test_estimate_pairs_seeds_and_falls_back_to_the_noise_of_one_seed():
    a, b = Sample({0: 0.30, 1: 0.20, 2: 0.25}), Sample({0: 0.28, 1: 0.18, 2: 0.23})
    paired = estimate({"a": a, "b": b}, lambda v: v["a"] - v["b"], 1.0, scale=100)  # 2 pp in every seed
    assert paired.interval == stats.T_SEEDS and paired.seeds == (0, 1, 2)
    assert (paired.value, paired.low, paired.high) == pytest.approx((2.0, 2.0, 2.0))
    one = estimate({"a": Sample({0: 0.3}, {0: 0.01}), "b": Sample({0: 0.2}, {0: 0.01})}, lambda v: v["a"] - v["b"], 0)
    assert one.interval == stats.NOISE and one.value == pytest.approx(0.1)
    assert (one.low, one.high) == pytest.approx((0.1 - 1.96 * 0.01 * 2**0.5, 0.1 + 1.96 * 0.01 * 2**0.5), abs=2e-3)
    none = estimate({"a": Sample({0: 0.3}), "b": Sample({0: 0.2})}, lambda v: v["a"] - v["b"], 0)
    assert none.interval == stats.NONE and status(none) == INCONCLUSIVE
    assert estimate({"a": Sample({})}, lambda v: v["a"], 0).n_seeds == 0


def test_spearman_interval_over_cells():
    e = stats.spearman_effect(-0.95, 25, -0.8, "<=")
    assert e.interval == stats.FISHER and e.low < -0.95 < e.high < 0 and status(e) == REPRODUCED
    assert status(stats.spearman_effect(-0.9, 3, -0.8, "<=")) == INCONCLUSIVE  # too few cells for an interval


# ---- C01 "WD helps at large LR" (err(large) - err(large + WD) >= 2 pp) on V1 tables with known truth.
CONFIGS = {"large+WD": (0.1, 0.01), "large": (0.1, 0.0), "small+WD": (0.01, 0.01), "small": (0.01, 0.0)}
EPOCHS, DECAY = 20, 10


def v1(errors: dict, seed_sd: float, seeds, eval_sd: float = 0.0, rng_seed: int = 0):
    """A V1 panel: per config and seed, a final error drawn around ``errors[config]`` (sd ``seed_sd``, the same
    draw for every config of a seed plus its own), held after the decay with evaluation noise ``eval_sd``."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for seed in seeds:
        shared = rng.normal(0, seed_sd)
        for name, (lr, wd) in CONFIGS.items():
            final = errors[name] + shared + rng.normal(0, seed_sd)
            for epoch in range(EPOCHS + 1):
                err = final + rng.normal(0, eval_sd) if epoch > DECAY else 0.6
                rows.append(
                    {"run_id": f"{name}_s{seed}", "model": "preact_resnet18", "dataset": "c10", "seed": seed,
                     "lr": lr, "wd": wd, "epoch": epoch, "weights": "iterate",
                     "lr_now": lr if epoch <= DECAY else 1e-4, "test_err": err,
                     "train_ce": 0.5 if epoch <= DECAY else 0.001, "train_err": 0.0}
                )  # fmt: skip
    return pd.DataFrame(rows)


def wd_helps(table) -> dict:
    (row,) = [r for r in claims.evaluate({"V1": table}, "test") if r["check"] == "WD helps at large LR"]
    return row


WD_HELPS = {"large+WD": 0.10, "large": 0.15, "small+WD": 0.20, "small": 0.30}  # 5 pp
WD_HURTS = {"large+WD": 0.15, "large": 0.10, "small+WD": 0.20, "small": 0.30}  # -5 pp


def test_a_clear_effect_over_five_seeds_is_reproduced():
    row = wd_helps(v1(WD_HELPS, seed_sd=0.005, seeds=range(5)))
    assert row["status"] == REPRODUCED and row["interval"] == stats.T_SEEDS and row["seeds"] == [0, 1, 2, 3, 4]
    assert row["effect"] == pytest.approx(5.0, abs=1.0) and row["low"] > 0 and row["unit"] == "pp"
    assert row["threshold"] == 2.0 and "t over 5 seeds" in row["effect_text"]


def test_the_same_mean_difference_with_a_huge_seed_spread_is_inconclusive():
    row = wd_helps(v1(WD_HELPS, seed_sd=0.08, seeds=range(5), rng_seed=3))
    assert row["status"] == INCONCLUSIVE and row["low"] < 0 < row["high"]
    assert row["high"] - row["low"] > 10  # pp


def test_the_opposite_effect_is_contradicted():
    row = wd_helps(v1(WD_HURTS, seed_sd=0.005, seeds=range(5)))
    assert row["status"] == CONTRADICTED and row["high"] < 0


def test_one_seed_is_judged_against_the_noise_of_its_last_evaluations():
    quiet = wd_helps(v1(WD_HELPS, seed_sd=0.0, seeds=[0], eval_sd=0.002))
    assert quiet["status"] == REPRODUCED and quiet["interval"] == stats.NOISE and quiet["n_seeds"] == 1
    loud = wd_helps(v1(WD_HELPS, seed_sd=0.0, seeds=[0], eval_sd=0.1))  # 10 pp per evaluation
    assert loud["status"] == INCONCLUSIVE and loud["interval"] == stats.NOISE
    assert loud["low"] < 0 < loud["high"]


def test_one_seed_with_one_evaluation_after_the_decay_reads_the_noise_across_it():
    table = v1(WD_HELPS, seed_sd=0.0, seeds=[0])
    table = table[(table.epoch <= DECAY) | (table.epoch == EPOCHS)]  # one evaluation after the decay
    row = wd_helps(table)
    assert row["interval"] == stats.NOISE and row["status"] == INCONCLUSIVE  # the drop at the decay reads as noise
    assert row["high"] - row["low"] > 20  # pp


def test_one_seed_without_neighbouring_evaluations_has_no_interval():
    table = v1(WD_HELPS, seed_sd=0.0, seeds=[0])
    row = wd_helps(table[table.epoch == EPOCHS])  # the final evaluation only, in every run of the panel
    assert row["status"] == INCONCLUSIVE and row["interval"] == stats.NONE and math.isnan(row["low"])
    assert row["effect"] == pytest.approx(5.0) and "no interval, 1 seed" in row["effect_text"]
