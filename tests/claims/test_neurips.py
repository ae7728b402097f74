"""Claims C11-C16 on synthetic tables shaped like the NeurIPS families' (train, finetune and measure frames), with
the paper's qualitative picture: each claim reproduces, one changed number breaks one check, and missing data
gives 'not enough data' with the reason."""

import math

import pandas as pd
import pytest
from wdecay import claims
from wdecay.claims import neurips
from wdecay.claims.verdict import CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH, REPRODUCED

FAILED = (CONTRADICTED, INCONCLUSIVE)  # the two ways a check with data can fail

RUN = {"preset": "test", "momentum": 0.0, "precision": "fp32", "width": 1.0, "code_version": "test"}
METRICS = {"test_err": 0.5, "train_err": 0.1, "train_ce": 0.5, "test_ce": 1.0, "weight_norm": 10.0}


def epoch_row(run, epoch, weights="iterate", lr_now=None, **metrics):
    coef = None if weights == "iterate" else float(weights.removeprefix("ema"))
    return (
        run | {"epoch": epoch, "weights": weights, "ema_coef": coef, "lr_now": lr_now or run["lr"]} | METRICS | metrics
    )


def measure_row(run, epoch, weights, measure, quantity, value):
    return run | {"epoch": epoch, "weights": weights, "measure": measure, "quantity": quantity, "value": value}


def cell(family, lr, wd, seed=0, dataset="cifar10", n=50_000):
    """The run fields of one run (shared by its train, finetune and measure rows)."""
    run_id = f"{family}_{dataset}_lr{lr:g}_wd{wd:g}_s{seed}"
    fields = {"family": family, "run_id": run_id, "model": "preact_resnet18", "dataset": dataset, "seed": seed}
    return RUN | fields | {"lr": lr, "wd": wd, "train_examples": n}


# ---- N1: CIFAR-5m sizes, WD vs no WD, two seeds (+-1 pp around the mean).
N1_ERR = {5e-4: {10_000: 0.40, 100_000: 0.20, 1_000_000: 0.10}, 0.0: {10_000: 0.45, 100_000: 0.25, 1_000_000: 0.12}}


def n1():
    rows = []
    for wd, errs in N1_ERR.items():
        for n, err in errs.items():
            for seed, offset in ((0, -0.01), (1, 0.01)):
                run = cell("N1", 0.1, wd, seed, f"cifar5m_{n}", n)
                rows += [epoch_row(run, 0, test_err=0.9), epoch_row(run, 10, test_err=err + offset)]
    return pd.DataFrame(rows)


# ---- N2: {small, large LR} x {0, lambda} on two datasets, 10 epochs with the decay after epoch 5.
N2_LRS, N2_WDS, N2_EPOCHS, N2_DECAY = (0.001, 0.08), (0.0, 0.0125), 10, 5
N2_FINAL = {(0.08, 0.0125): 0.105, (0.08, 0.0): 0.14, (0.001, 0.0125): 0.185, (0.001, 0.0): 0.33}


def n2():
    rows = []
    for dataset in ("cifar10", "tiny_imagenet"):
        for lr in N2_LRS:
            for wd in N2_WDS:
                run = cell("N2", lr, wd, dataset=dataset)
                for epoch in range(N2_EPOCHS + 1):
                    lr_now = lr if epoch <= N2_DECAY else 1e-4
                    large_phase = lr == 0.08 and epoch <= N2_DECAY
                    metrics = {
                        "test_err": N2_FINAL[(lr, wd)] if epoch > N2_DECAY else 0.5,  # settled after the decay
                        "train_ce": (0.5 if wd else 0.01) if large_phase else 0.001,
                        "weight_norm": 50.0 if epoch == 0 else 30.0 if wd else 50.0 + 5 * epoch,
                    }
                    rows.append(epoch_row(run, epoch, lr_now=lr_now, **metrics))
                    slow_err = 0.11 if (lr, wd) == (0.08, 0.0125) else 0.3
                    rows.append(epoch_row(run, epoch, "ema0.999", lr_now, **(metrics | {"test_err": slow_err})))
                    rows.append(epoch_row(run, epoch, "ema0.95", lr_now, **(metrics | {"test_err": 0.5})))
    return pd.DataFrame(rows)


# ---- N3: a 5 x 5 lr x wd grid plus one cell without WD, one seed, 200 epochs. The EMA error is best along
# eta*lambda = 1e-4 (lr 0.1 wd 1e-3 best), the Jacobian norm falls and sigma and the train loss grow with eta*lambda.
# The faster EMA and the WD-free cell hold numbers that would break the checks if they were used.
N3_LRS, N3_WDS, N3_EPOCHS = (0.025, 0.05, 0.1, 0.2, 0.4), (1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3), 200


def n3_values(lr, wd):
    if wd == 0:
        return {"err": 0.30, "jac": 1.0, "sigma": 1e3, "ce": 5.0}
    x = math.log10(lr * wd)
    return {
        "err": 0.40 + 0.05 * (x + 4) ** 2 + 0.001 * abs(math.log10(lr / 0.1)),
        "jac": 10 * (lr * wd) ** -0.3,
        "sigma": 1e3 * (lr * wd) ** 0.5,
        "ce": 0.1 * (x + 7),
    }


def n3():
    train, measure = [], []
    for i, (lr, wd) in enumerate([(lr, wd) for lr in N3_LRS for wd in N3_WDS] + [(0.1, 0.0)]):
        v, run = n3_values(lr, wd), cell("N3", lr, wd, dataset="tiny_imagenet")
        for epoch in range(N3_EPOCHS - 4, N3_EPOCHS + 1):  # the last 5 evaluations, settled
            train += [
                epoch_row(run, epoch, test_err=v["err"] + 0.05, train_ce=v["ce"]),
                epoch_row(run, epoch, "ema0.999", test_err=v["err"]),
                epoch_row(run, epoch, "ema0.99", test_err=0.9 - v["err"]),
            ]
        measure += [
            measure_row(run, N3_EPOCHS, "ema0.999", "jacobian_norm", "norm", v["jac"]),
            measure_row(run, 100, "ema0.999", "jacobian_norm", "norm", 1 / v["jac"]),  # not the latest
            measure_row(run, N3_EPOCHS, "iterate", "jacobian_norm", "norm", 2 * v["jac"]),
            measure_row(run, N3_EPOCHS, "ema0.99", "jacobian_norm", "norm", 1 / v["jac"]),
            measure_row(run, N3_EPOCHS, "iterate", "noise_scale", "sigma_sq", v["sigma"]),
        ]
        # the ensemble measurement of two seeds (the second 0.1 pp / 0.002 higher): exact numbers, whose noise
        # only the seeds tell
        for seed in (0, 1):
            twin = run | {"seed": seed, "run_id": run["run_id"].replace("_s0", f"_s{seed}")}
            for quantity, value in (
                ("ensemble_err", v["err"] - 0.003 + 0.001 * seed),
                ("ema_err", v["err"] + 0.001 * seed),
                ("snapshot_err", v["err"] + 0.03),
                ("tvd", 0.04 + 0.001 * i + 0.002 * seed),
            ):
                measure.append(measure_row(twin, N3_EPOCHS, "ema0.999", "ensemble", quantity, value))
        measure.append(measure_row(run, N3_EPOCHS, "ema0.99", "ensemble", "tvd", 0.5))
    return pd.DataFrame(train), pd.DataFrame(measure)


# ---- N4: LR sweep at lambda 0.0125, fine-tuned from epochs 4 and 8 (3 epochs), plus a fine-tuned run without WD,
# two seeds each (+-0.1 pp); the slow EMA (settled from epoch 4) is within 0.5 pp of fine-tuning at epoch 8, and
# its Jacobian falls with LR.
N4_EMA = {(0.001, 0.0125): 0.20, (0.02, 0.0125): 0.12, (0.04, 0.0125): 0.11, (0.08, 0.0125): 0.10, (0.08, 0.0): 0.15}
N4_FT = {(0.001, 0.0125): 0.198, (0.02, 0.0125): 0.123, (0.08, 0.0125): 0.104, (0.08, 0.0): 0.16}
N4_JAC = {0.001: 30.0, 0.02: 20.0, 0.04: 15.0, 0.08: 10.0}


def n4():
    train, finetune, measure = [], [], []
    for (lr, wd), ema_err in N4_EMA.items():
        for seed in (0, 1):
            run, offset = cell("N4", lr, wd, seed), 0.001 * (2 * seed - 1)
            for epoch in range(11):
                train.append(epoch_row(run, epoch, test_err=0.3))
                train.append(epoch_row(run, epoch, "ema0.999", test_err=ema_err + offset if epoch >= 4 else 0.25))
                train.append(epoch_row(run, epoch, "ema0.95", test_err=0.5))
            for start, ft_err in ((4, 0.3), (8, N4_FT.get((lr, wd)))) if (lr, wd) in N4_FT else ():
                ft = {"from_epoch": start, "ft_lr": 1e-3, "ft_wd": 0.0, "ft_epochs": 3}
                finetune += [epoch_row(run, e, test_err=0.4 if e == 0 else ft_err + offset) | ft for e in (0, 3)]
            jac = 50.0 if wd == 0 else N4_JAC[lr] + 2 * seed - 1
            measure += [
                measure_row(run, 8, "ema0.999", "jacobian_norm", "norm", jac),
                measure_row(run, 4, "ema0.999", "jacobian_norm", "norm", 100 - jac),  # not the latest
                measure_row(run, 8, "ema0.95", "jacobian_norm", "norm", 100 - jac),
            ]
    return pd.DataFrame(train), pd.DataFrame(finetune), pd.DataFrame(measure)


def paper_like():
    (n3_train, n3_measure), (n4_train, n4_finetune, n4_measure) = n3(), n4()
    return {
        "N1": n1(),
        "N2": n2(),
        "N3": n3_train,
        "N3:measure": n3_measure,
        "N4": n4_train,
        "N4:finetune": n4_finetune,
        "N4:measure": n4_measure,
    }


def neurips_rows(tables, reading=None):
    """Rows of C11-C16 through the registry; with ``reading``, only of the claims that read that table (the others
    cannot change)."""
    if reading is None:
        return [r for r in claims.evaluate(tables, "test") if r["claim"] in neurips.CLAIMS]
    variants = [v for variants in neurips.CLAIMS.values() for v in variants if reading in v[0]]
    return [r for needed, check in variants for r in check(tables)]


def find(rows, claim, check, scope=None):
    found = [r for r in rows if r["claim"] == claim and r["check"] == check and scope in (None, r["scope"])]
    assert found, (claim, check, scope, [(r["claim"], r["check"], r["scope"]) for r in rows])
    return found


def test_registry_holds_c11_to_c16():
    assert {f"C{i}" for i in range(11, 17)} <= set(claims.CLAIMS)
    assert {"N1", "N2", "N3", "N4"} <= claims.families()


def test_paper_like_tables_reproduce_c11_to_c16():
    rows = neurips_rows(paper_like())
    bad = [(r["claim"], r["check"], r["scope"], r["status"], r["measured"]) for r in rows if r["status"] != REPRODUCED]
    assert not bad
    assert {r["claim"] for r in rows} == {f"C{i}" for i in range(11, 17)}
    counts = {c: sum(r["claim"] == c for r in rows) for c in neurips.CLAIMS}
    # C12: 5 checks x 2 datasets; C16: 4 fine-tuned cells + the Jacobian sweep
    assert counts == {"C11": 1, "C12": 10, "C13": 3, "C14": 4, "C15": 2, "C16": 5}

    (c11,) = find(rows, "C11", "WD lowers the error at every size")
    assert "n 10000: 40.00% with WD, 45.00% without" in c11["measured"]  # means over the two seeds
    assert "n 1000000: 10.00% with WD, 12.00% without" in c11["measured"]
    (c12,) = find(rows, "C12", "large LR + WD is best after the decay", "N2 preact_resnet18/tiny_imagenet")
    assert "large LR + WD 10.5%" in c12["measured"] and "large LR 14%" in c12["measured"]
    (c12,) = find(rows, "C12", "loss stabilisation before the decay", "N2 preact_resnet18/cifar10")
    assert "epochs 4-5" in c12["measured"] and "ratio 50" in c12["measured"]
    (c12,) = find(rows, "C12", "norm grows monotonically without WD", "N2 preact_resnet18/cifar10")
    assert "large LR: 55 at epoch 1 -> 100 at the end" in c12["measured"]
    (c12,) = find(rows, "C12", "EMA before the decay is close to the final error", "N2 preact_resnet18/cifar10")
    assert "ema0.999 at epoch 5: 11.00%; final iterate: 10.50%" in c12["measured"]
    (c13,) = find(rows, "C13", "EMA Jacobian norm falls with eta*lambda")
    assert c13["measured"] == "||J|| of ema0.999 vs eta*lambda: Spearman rho -1.000 over 25 cells"
    (c13,) = find(rows, "C13", "best cell is interior")
    assert c13["measured"].startswith("best lr 0.1 wd 0.001;")
    (c13,) = find(rows, "C13", "best cells lie along eta*lambda ~ const")
    assert "lr 0.1 wd 0.001 (eta*lambda 0.0001): 40.00%" in c13["measured"] and "span 0.00 decades" in c13["measured"]
    (c14,) = find(rows, "C14", "test error has an interior optimum in eta*lambda")
    assert "ema0.999 test error: best 40.00% at eta*lambda 0.0001" in c14["measured"]
    assert "spans 2.5e-06-0.0008" in c14["measured"]
    (c14,) = find(rows, "C14", "sigma grows with eta*lambda")
    assert c14["measured"] == "sigma_sq of the iterate vs eta*lambda: Spearman rho 1.000 over 25 cells"
    (c14,) = find(rows, "C14", "Jacobian norm falls with eta*lambda")
    assert c14["measured"] == "||J|| of ema0.999 vs eta*lambda: Spearman rho -1.000 over 25 cells"
    (c15,) = find(rows, "C15", "EMA errs like the snapshot ensemble")
    assert c15["measured"].startswith("26 cells (ema0.999); largest |EMA - ensemble| 0.30%")
    (c15,) = find(rows, "C15", "ensemble and EMA outputs are close")
    assert "largest TVD 0.066" in c15["measured"]
    (c16,) = find(rows, "C16", "EMA matches fine-tuning", "N4 lr 0.08 wd 0.0125")
    assert c16["measured"] == "at epoch 8 (mean over 2 runs): ema0.999 10.00%, fine-tuned from it 10.40%"
    (c16,) = find(rows, "C16", "EMA Jacobian norm falls with LR", "N4 wd 0.0125")
    assert c16["measured"] == "latest ||J|| of ema0.999: lr 0.001: 30, lr 0.02: 20, lr 0.04: 15, lr 0.08: 10"


def _set(frame, mask, column, value):
    frame = frame.copy()
    frame.loc[mask(frame), column] = value
    return frame


# claim, check that fails, table, rows to change, column, new value, number that must appear in 'measured'
FLIPS = [
    (
        "C11",
        "WD lowers the error at every size",
        "N1",
        lambda f: (f.wd == 0) & (f.train_examples == 1_000_000) & (f.epoch == 10),
        "test_err",
        0.05,
        "n 1000000: 10.00% with WD, 5.00% without",
    ),
    (
        "C12",
        "large LR + WD is best after the decay",
        "N2",
        lambda f: (f.lr == 0.08) & (f.wd == 0) & (f.epoch == N2_EPOCHS) & (f.weights == "iterate"),
        "test_err",
        0.11,
        "large LR 11%",
    ),
    (
        "C12",
        "loss stabilisation before the decay",
        "N2",
        lambda f: (f.lr == 0.08) & (f.wd == 0) & (f.epoch <= N2_DECAY),
        "train_ce",
        0.1,
        "ratio 5",
    ),
    (
        "C12",
        "norm stays bounded with WD",
        "N2",
        lambda f: (f.lr == 0.001) & (f.wd > 0) & (f.epoch == 7),
        "weight_norm",
        120.0,
        "small LR + WD: max 2.4 x its first value",
    ),
    (
        "C12",
        "norm grows monotonically without WD",
        "N2",
        lambda f: (f.lr == 0.001) & (f.wd == 0) & (f.epoch == 7),
        "weight_norm",
        70.0,
        "deepest dip 12.50%",
    ),
    (
        "C12",
        "EMA before the decay is close to the final error",
        "N2",
        lambda f: (f.weights == "ema0.999") & (f.lr == 0.08) & (f.wd > 0) & (f.epoch == N2_DECAY),
        "test_err",
        0.15,
        "ema0.999 at epoch 5: 15.00%",
    ),
    (
        "C13",
        "best cell is interior",
        "N3",
        lambda f: (f.weights == "ema0.999") & (f.lr == 0.4) & (f.wd == 1e-4),
        "test_err",
        0.1,
        "best lr 0.4 wd 0.0001",
    ),
    (
        "C14",
        "sigma grows with eta*lambda",
        "N3:measure",
        lambda f: (f.quantity == "sigma_sq") & (f.lr == 0.4) & (f.wd == 2e-3),
        "value",
        0.0,
        "Spearman rho 0.",
    ),
    (
        "C15",
        "ensemble and EMA outputs are close",
        "N3:measure",
        lambda f: (f.quantity == "tvd") & (f.weights == "ema0.999") & (f.lr == 0.05) & (f.wd == 5e-4),
        "value",
        0.3,
        "largest TVD 0.3 at lr 0.05 wd 0.0005",
    ),
    (
        "C16",
        "EMA matches fine-tuning",
        "N4",
        lambda f: (f.weights == "ema0.999") & (f.lr == 0.08) & (f.wd > 0) & (f.epoch == 8),
        "test_err",
        0.2,
        "ema0.999 20.00%, fine-tuned from it 10.40%",
    ),
    (
        "C16",
        "EMA Jacobian norm falls with LR",
        "N4:measure",
        lambda f: (f.weights == "ema0.999") & (f.lr == 0.08) & (f.wd > 0) & (f.epoch == 8),
        "value",
        25.0,
        "lr 0.08: 25",
    ),
]


@pytest.mark.parametrize("claim,check,key,mask,column,value,number", FLIPS, ids=[f"{f[0]}-{f[1]}" for f in FLIPS])
def test_a_changed_number_fails_its_check(claim, check, key, mask, column, value, number):
    tables = paper_like()
    tables[key] = _set(tables[key], mask, column, value)
    rows = neurips_rows(tables, reading=key)
    failed = [r for r in rows if r["status"] in FAILED]
    assert {r["claim"] for r in failed} == {claim}
    assert check in {r["check"] for r in failed}
    assert any(number in r["measured"] for r in failed if r["check"] == check), [r["measured"] for r in failed]
    assert all(r["status"] == REPRODUCED for r in rows if r not in failed)


def _drop(frame, mask):
    return frame[~mask(frame)]


# claim, table, rows to drop (None: change lr_now), the checks that become 'not enough data', words of the reason
GAPS = [
    ("C11", "N1", lambda f: f.wd == 0, ["WD lowers the error at every size"], "no runs without WD"),
    ("C12", "N2", lambda f: f.lr == 0.001, ["all"], "not 2 LRs"),
    (
        "C12",
        "N2",
        None,
        [
            "large LR + WD is best after the decay",
            "loss stabilisation before the decay",
            "EMA before the decay is close to the final error",
        ],
        "never decays",
    ),
    (
        "C13",
        "N3:measure",
        lambda f: (f.measure == "jacobian_norm") & (f.weights != "iterate"),  # C14 falls back to the iterate
        ["EMA Jacobian norm falls with eta*lambda"],
        "no Jacobian norm of ema0.999",
    ),
    (
        "C14",
        "N3:measure",
        lambda f: f.measure == "noise_scale",
        ["sigma grows with the train loss", "sigma grows with eta*lambda"],
        "no sigma_sq",
    ),
    (
        "C15",
        "N3:measure",
        lambda f: f.measure == "ensemble",
        ["EMA errs like the snapshot ensemble", "ensemble and EMA outputs are close"],
        "no ensemble measurement",
    ),
    (
        "C16",
        "N4:measure",
        lambda f: f.weights == "ema0.999",
        ["EMA Jacobian norm falls with LR"],
        "||J|| of ema0.999 at 0 learning rates",
    ),
    (
        "C16",
        "N4",
        lambda f: (f.weights == "ema0.999") & (f.lr == 0.02),
        ["EMA matches fine-tuning"],
        "no ema0.999 evaluation at epoch 8",
    ),
]


@pytest.mark.parametrize("claim,key,mask,checks,reason", GAPS, ids=[f"{g[0]}-{g[4]}" for g in GAPS])
def test_missing_data_is_not_enough(claim, key, mask, checks, reason):
    tables = paper_like()
    frame = tables[key]
    tables[key] = frame.assign(lr_now=frame.lr) if mask is None else _drop(frame, mask)
    rows = neurips_rows(tables, reading=key)
    short = [r for r in rows if r["status"] == NOT_ENOUGH]
    assert {r["claim"] for r in short} == {claim}
    assert sorted({r["check"] for r in short}) == sorted(checks)
    assert all(reason in r["measured"] for r in short), [r["measured"] for r in short]
    assert not any(r["status"] in FAILED for r in rows)
