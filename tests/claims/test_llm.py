"""Claims C17-C30 on synthetic tables shaped like the language-model families' (every LLM_TRAIN / LLM_FINETUNE
column, 1000 iterations evaluated every 50), with the paper's qualitative picture: each claim reproduces, one
changed number breaks its check, and missing configurations give 'not enough data' with the reason."""

import math

import pandas as pd
import pytest
from wdecay import claims
from wdecay.claims import llm
from wdecay.claims.verdict import CONTRADICTED, INCONCLUSIVE, NOT_ENOUGH, REPRODUCED
from wdecay.io import tables
from wdecay.training import divergence

FAILED = (CONTRADICTED, INCONCLUSIVE)  # the two ways a check with data can fail

MAX_ITERS, EVERY, WARMUP, FT_ITERS = 1000, 50, 40, 100
STEPS = list(range(0, MAX_ITERS + 1, EVERY))
CHECKPOINTS = (200, 400, 600, 800, 1000)
DIVERGED_LOSS = 7.5


def lr_at(step, lr, schedule, decay_iters):
    if step < WARMUP:
        return lr * step / WARMUP
    if schedule == "constant":
        return lr
    progress = min(1.0, (step - WARMUP) / (decay_iters - WARMUP))
    return lr / 10 + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - lr / 10)


def run(
    family,
    *,
    final,
    early=0.0,
    wd=0.0,
    lr=6e-4,
    seed=0,
    ema_gain=0.01,
    norm=None,
    grad=0.3,
    diverge_at=None,
    schedule="cosine",
    optimizer="adamw",
    decay_ln=False,
    l2=0.0,
    lr_decay_iters=MAX_ITERS,
    precision="bf16",
    model="gpt2_124m",
    context=256,
    mimic=None,
):
    """The evaluation rows of one run. Train loss: ``final`` (+ ``early`` before 0.75 x max_iters) plus a decaying
    transient, jumping to DIVERGED_LOSS from ``diverge_at`` x max_iters; val = train + 0.005 (+ 0.05 in the first
    tenth); the EMA ``ema_gain`` below; ||w|| grows from 50 without WD and sits at ``norm`` with it. ``mimic``: the
    wd a mimic schedule mimics (tagged mid-run_id, as the real ones are)."""
    tag = "" if mimic is None else f"_mimic{mimic:g}"
    run_id = f"{family}_{model}_ctx{context}_lr{lr:g}_wd{wd:g}{tag}_{precision}_l2{l2:g}_dec{lr_decay_iters}_s{seed}"
    fields = {
        "preset": "test",
        "family": family,
        "run_id": run_id,
        "model": model,
        "dataset": "owt",
        "context": context,
        "batch_size": 8,
        "seed": seed,
        "lr": lr,
        "wd": wd,
        "l2": l2,
        "optimizer": optimizer,
        "decay_ln": decay_ln,
        "schedule": schedule,
        "lr_decay_iters": lr_decay_iters,
        "max_iters": MAX_ITERS,
        "mimic": mimic,
        "precision": precision,
        "code_version": "test",
    }
    losses = []
    for step in STEPS:
        x = step / MAX_ITERS
        loss = (final + early if x < 0.75 else final) + 5 * max(0.0, 0.75 - x) ** 2  # settled over the last 6 evals
        losses.append(DIVERGED_LOSS if diverge_at is not None and x >= diverge_at else loss)
    spikes = divergence.spikes(STEPS, losses, MAX_ITERS)
    gone = divergence.diverged(STEPS, losses, MAX_ITERS)
    rows = []
    for step, loss, spike in zip(STEPS, losses, spikes, strict=True):
        x = step / MAX_ITERS
        lr_now = lr_at(step, lr, schedule, lr_decay_iters)
        w = 50 + 100 * x if norm is None or step == 0 else norm
        val = loss + (0.05 if x <= 0.1 else 0.005)
        metrics = {
            "step": step,
            "tokens": step * 8 * context,
            "lr_now": lr_now,
            "train_loss": loss,
            "val_loss": val,
            "ema_train_loss": loss - ema_gain,
            "ema_val_loss": val - ema_gain,
            "ema_coef": 0.99,
            "grad_norm": grad,
            "grad_var": 0.1,
            "weight_norm": w,
            "weight_norm_all": 1.01 * w,
            "eff_lr": lr_now / w,
            "spike": spike,
            "diverged": gone,
            "tokens_per_s": 1e5,
            "mfu": None,
        }
        rows.append(fields | metrics)
    return rows


def frame(rows):
    out = pd.DataFrame(rows)
    assert list(out.columns) == tables.LLM_TRAIN.names
    return out


def finetune(train, gains: dict):
    """Fine-tuning rows of every run of a training frame from CHECKPOINTS: the checkpoint (step 0) and four more
    evaluations, falling linearly to ``gains[wd]`` below it after FT_ITERS iterations."""
    rows = []
    for _, r in train[train.step.isin(CHECKPOINTS)].iterrows():
        fields = {f.name: r[f.name] for f in tables.LLM_RUN_FIELDS}
        ft = {"from_step": int(r.step), "ft_lr": 1e-5, "ft_wd": 0.0, "ft_iters": FT_ITERS}
        for step in range(0, FT_ITERS + 1, FT_ITERS // 4):
            loss = r.train_loss - gains[r.wd] * step / FT_ITERS
            rows.append(fields | ft | {"step": step, "train_loss": loss, "val_loss": loss + 0.005})
    out = pd.DataFrame(rows)
    assert sorted(out.columns) == sorted(tables.LLM_FINETUNE.names)
    return out


# ---- L1: cosine, wd {0, 0.1, 0.3} (wd 0.1 two seeds). WD ends 0.015-0.02 lower but sits 0.005 / 0.03 higher
# mid-training; the norm falls and the gradient norm grows with wd; the EMA gains most without WD.
L1 = {0.0: (3.30, 0.0, 0.015, None, 0.2), 0.1: (3.285, 0.02, 0.006, 90.0, 0.3), 0.3: (3.28, 0.05, 0.004, 60.0, 0.4)}
L1_FT = {0.0: 0.03, 0.1: 0.05, 0.3: 0.07}
# ---- L2: constant LR, the loss grows with wd, the EMA gains more with wd.
L2 = {
    0.0: (3.35, 0.04, None, 0.2),
    0.1: (3.36, 0.07, 85.0, 0.3),
    0.3: (3.38, 0.09, 55.0, 0.4),
    0.6: (3.42, 0.12, 40.0, 0.5),
}
L2_FT = {0.0: 0.06, 0.1: 0.09, 0.3: 0.15, 0.6: 0.18}


def l1(family="L1", model="gpt2_124m", shift=0.0):
    rows = []
    for wd, (final, early, ema_gain, norm, grad) in L1.items():
        for seed, offset in ((0, -0.001), (1, 0.001)) if wd == 0.1 else ((0, 0.0),):
            rows += run(family, final=final + offset + shift, early=early, wd=wd, seed=seed, ema_gain=ema_gain,
                        norm=norm, grad=grad, model=model)  # fmt: skip
    return frame(rows)


def l2():
    rows = []
    for wd, (final, ema_gain, norm, grad) in L2.items():
        rows += run("L2", final=final, wd=wd, ema_gain=ema_gain, norm=norm, grad=grad, schedule="constant")
    return frame(rows)


def l4():
    rows = []
    for wd, final in {0.01: 3.31, 0.1: 3.29, 0.3: 3.33}.items():
        rows += run("L4", final=final, wd=wd, norm=70.0, decay_ln=True)
    return frame(rows)


def l5():
    return frame(
        [r for c, final in {1e-5: 3.295, 1e-4: 3.285, 1e-3: 3.32}.items() for r in run("L5", final=final, l2=c)]
    )


def l6():
    finals = {0.0: 3.60, 1e-5: 3.58, 3e-5: 3.59}
    return frame([r for wd, f in finals.items() for r in run("L6", final=f, wd=wd, lr=0.3, optimizer="sgdm")])


def l7():
    finals = {1100: 3.295, 1200: 3.288, 1300: 3.292}
    return frame([r for d, f in finals.items() for r in run("L7", final=f, lr_decay_iters=d)])


# ---- L8: ctx 1024, bf16 lr x wd grid (3 seeds at the largest lr), and fp32 at the largest lr without WD.
L8_FINAL = {
    (1e-3, 0.0): None,
    (1e-3, 0.1): 3.05,
    (1e-3, 0.3): 3.06,
    (6e-4, 0.0): 3.10,
    (6e-4, 0.1): 3.08,
    (6e-4, 0.3): 3.09,
    (3e-4, 0.0): 3.15,
    (3e-4, 0.1): 3.13,
    (3e-4, 0.3): 3.14,
}
L8_NORM = {0.1: {3e-4: 70.0, 6e-4: 80.0, 1e-3: 90.0}, 0.3: {3e-4: 50.0, 6e-4: 50.0, 1e-3: 50.0}}


def l8():
    rows = []
    for (lr, wd), final in L8_FINAL.items():
        for seed in (0, 1, 2) if lr == 1e-3 else (0,):
            offset = 0.002 * (seed - 1) if lr == 1e-3 else 0.0
            kw = dict(wd=wd, lr=lr, seed=seed, context=1024, norm=L8_NORM.get(wd, {}).get(lr))
            if final is None:
                rows += run("L8", final=3.10, diverge_at=0.5, **kw)
            else:
                rows += run("L8", final=final + offset, **kw)
    for seed in (0, 1, 2):
        rows += run("L8", final=3.07, lr=1e-3, seed=seed, context=1024, precision="fp32")
    return frame(rows)


def l9():
    """wd 0 runs with the schedule of L1's wd 0.3 run: at fp32 0.005 above it throughout; in bf16 they diverge;
    and an fp32 mimic of wd 0.1 (two seeds in L1)."""
    rows = run("L9", final=3.285, early=0.05, schedule="mimic", precision="fp32", mimic=0.3)
    rows += run("L9", final=3.285, early=0.02, schedule="mimic", precision="fp32", mimic=0.1)
    for seed in (0, 1):
        rows += run("L9", final=3.3, seed=seed, schedule="mimic", diverge_at=0.5, mimic=0.3)
    return frame(rows)


def paper_like():
    t = {"L1": l1(), "L2": l2(), "L4": l4(), "L5": l5(), "L6": l6(), "L7": l7(), "L8": l8(), "L9": l9()}
    t["L10"] = l1("L10", "gpt2_774m", shift=-0.3)
    t["L1:finetune"] = finetune(t["L1"], L1_FT)
    t["L2:finetune"] = finetune(t["L2"], L2_FT)
    return t


def llm_rows(tables_, claim=None):
    """Rows of C17-C30 through the registry, or of one claim's variants only."""
    if claim is None:
        return [r for r in claims.evaluate(tables_, "test") if r["claim"] in llm.CLAIMS]
    return [r for needed, check in llm.CLAIMS[claim] for r in check(tables_)]


def find(rows, claim, check, scope=None):
    found = [r for r in rows if r["claim"] == claim and r["check"] == check and scope in (None, r["scope"])]
    assert found, (claim, check, scope, [(r["claim"], r["check"], r["scope"]) for r in rows])
    return found


def test_registry_reads_only_language_model_tables():
    assert {f"C{i}" for i in range(17, 31)} == set(llm.CLAIMS) and set(llm.CLAIMS) <= set(claims.CLAIMS)
    families = {f"L{i}" for i in range(1, 11)}
    names = {name for variants in llm.CLAIMS.values() for needed, _ in variants for name in needed}
    assert all(n in families or (n.endswith(":finetune") and n.split(":")[0] in families) for n in names)
    assert families - {"L3"} <= claims.families()


def test_paper_like_tables_reproduce_c17_to_c30():
    rows = llm_rows(paper_like())
    bad = [(r["claim"], r["check"], r["scope"], r["status"], r["measured"]) for r in rows if r["status"] != REPRODUCED]
    assert not bad
    counts = {c: sum(r["claim"] == c for r in rows) for c in llm.CLAIMS}
    assert counts == {
        "C17": 2,
        "C18": 3,
        "C19": 2,
        "C20": 2,
        "C21": 6,
        "C22": 5,  # tracking and final for two fp32 mimics, divergence of the bf16 one
        "C23": 2,
        "C24": 5,
        "C25": 3,
        "C26": 2,
        "C27": 2,
        "C28": 1,
        "C29": 7,
        "C30": 1,
    }
    (r,) = find(rows, "C17", "validation loss tracks train loss", "L1 gpt2_124m")
    assert "wd 0: 0.0050 at step" in r["measured"]  # the first tenth (gap 0.05) is left out
    (r,) = find(rows, "C18", "WD lowers the final loss")
    assert "wd 0: 3.3000, wd 0.1: 3.2850, wd 0.3: 3.2800" in r["measured"] and "1-2 seeds" in r["measured"]
    (r,) = find(rows, "C18", "the best gain of WD is 0.01-0.04")
    assert "gain 0.0200 (wd 0.3)" in r["measured"]
    (r,) = find(rows, "C18", "the largest wd is above wd 0 mid-training")
    assert "difference 0.0300" in r["measured"]
    (r,) = find(rows, "C19", "fine-tuned from the last checkpoint the loss falls with wd")
    assert r["measured"] == "fine-tuned from step 1000 (mean over seeds): wd 0: 3.2700, wd 0.1: 3.2350, wd 0.3: 3.2100"
    (r,) = find(rows, "C19", "a higher loss can be a better starting point")
    assert "(3 checkpoints with L(wd 0.3) > L(0) before fine-tuning)" in r["measured"]
    (r,) = find(rows, "C21", "without WD the norm does not decrease after warmup", "L1")
    assert r["measured"] == "wd 0, steps 50-1000: deepest dip 0.00%"
    (r,) = find(rows, "C22", "the fp32 mimic run tracks the run it mimics", "L9 fp32 mimic of wd 0.3")
    assert r["measured"].startswith("max |L_mimic - L(wd 0.3)| 0.0050 at step") and "over 20 evals" in r["measured"]
    (r,) = find(rows, "C22", "the bf16 mimic run diverges")
    assert r["measured"] == "2/2 runs diverge" and r["scope"] == "L9 bf16 mimic of wd 0.3"
    (r,) = find(rows, "C24", "bf16 without WD diverges at the largest lr")
    assert r["measured"] == "3/3 runs diverge" and r["scope"] == "L8 bf16 lr 0.001 wd 0"
    (r,) = find(rows, "C24", "full precision without WD does not diverge at the largest lr")
    assert r["measured"] == "0/3 runs diverge" and r["scope"] == "L8 fp32 lr 0.001 wd 0"
    (r,) = find(rows, "C24", "with WD the largest lr ends below the next lr without WD")
    assert r["measured"] == "final train loss: lr 0.001 wd 0.1: 3.0500, lr 0.0006 wd 0: 3.1000"
    (r,) = find(rows, "C25", "at the smallest wd the final norm grows with lr")
    assert r["measured"] == "final ||w|| at wd 0.1: lr 0.0003: 70, lr 0.0006: 80, lr 0.001: 90"
    (r,) = find(rows, "C26", "decaying LayerNorm too changes little at the smallest shared wd")
    assert r["scope"] == "L4 vs L1 wd 0.1" and "with LayerNorm 3.2900, without 3.2850" in r["measured"]
    (r,) = find(rows, "C27", "coupled l2 is close to the best AdamW wd")
    assert "l2 0.0001: 3.2850" in r["measured"] and "best AdamW wd 0.3: 3.2800" in r["measured"]
    (r,) = find(rows, "C29", "the EMA's spread across wd is smaller", "L1")
    assert r["measured"] == "spread over 3 wd: EMA 0.0090, iterate 0.0200"
    (r,) = find(rows, "C29", "fine-tuning beats the EMA", "L2")
    assert r["measured"].startswith("20/20 checkpoints")
    (r,) = find(rows, "C30", "a slower cosine without WD matches WD")
    assert "lr_decay_iters 1200 (1.20 x max_iters): 3.2880" in r["measured"]


def test_divergence_is_read_from_the_curve_not_the_column():
    t = paper_like()
    t["L8"] = t["L8"].assign(diverged=~t["L8"].diverged, spike=False)
    t["L9"] = t["L9"].assign(diverged=~t["L9"].diverged)
    assert all(r["status"] == REPRODUCED for c in ("C22", "C24", "C25") for r in llm_rows(t, c))


def _set(frame_, mask, column, value):
    frame_ = frame_.copy()
    frame_.loc[mask(frame_), column] = value
    return frame_


LAST = 750  # the settled end of the curves (the last 6 evaluations, 3 of them the final value)

# claim, checks that fail, table, rows to change, column, new value, text that must appear in 'measured'
FLIPS = [
    ("C17", {"validation loss tracks train loss"}, "L1", lambda f: (f.wd == 0.3) & (f.step == 500), "val_loss", 5.0,
     "wd 0.3: 1.3575 at step 500"),
    ("C17", {"validation loss tracks train loss"}, "L10", lambda f: (f.wd == 0) & (f.step == 150), "val_loss", 1.0,
     "at step 150"),
    ("C18", {"WD lowers the final loss"}, "L1", lambda f: (f.wd == 0.1) & (f.step >= LAST), "train_loss", 3.305,
     "wd 0.1: 3.3050"),
    ("C18", {"the best gain of WD is 0.01-0.04"}, "L1", lambda f: (f.wd == 0.3) & (f.step >= LAST), "train_loss",
     3.25, "gain 0.0500"),
    ("C18", {"the largest wd is above wd 0 mid-training"}, "L1",
     lambda f: (f.wd == 0.3) & (f.step >= 400) & (f.step <= 600), "train_loss", 3.0, "wd 0.3: 3.0000"),
    ("C19", {"fine-tuned from the last checkpoint the loss falls with wd"}, "L1:finetune",
     lambda f: (f.wd == 0.1) & (f.from_step == 1000) & (f.step == FT_ITERS), "train_loss", 3.20, "wd 0.1: 3.2000"),
    ("C19", {"a higher loss can be a better starting point"}, "L1:finetune",
     lambda f: (f.wd == 0.3) & (f.from_step < 1000) & (f.step == FT_ITERS), "train_loss", 9.0, "after"),
    ("C20", {"WD does not lower the loss with a constant LR", "the loss grows with wd"}, "L2",
     lambda f: (f.wd == 0.1) & (f.step >= LAST), "train_loss", 3.34, "wd 0.1: 3.3400"),
    ("C20", {"the loss grows with wd"}, "L2", lambda f: (f.wd == 0.6) & (f.step >= LAST), "train_loss", 3.37,
     "wd 0.6: 3.3700"),
    ("C21", {"effective LR grows with wd"}, "L1", lambda f: (f.wd == 0.3) & (f.step >= LAST), "eff_lr", 1e-7,
     "wd 0.3: 1e-07"),
    ("C21", {"weight norm falls with wd"}, "L2", lambda f: (f.wd == 0.1) & (f.step >= LAST), "weight_norm", 200.0,
     "wd 0.1: 200"),
    ("C21", {"without WD the norm does not decrease after warmup"}, "L1", lambda f: (f.wd == 0) & (f.step == 500),
     "weight_norm", 50.0, "deepest dip 47.37%"),
    ("C22", {"the fp32 mimic run tracks the run it mimics"}, "L9",
     lambda f: (f.precision == "fp32") & (f.mimic == 0.3) & (f.step == 500), "train_loss", 4.0,
     "0.3575 at step 500"),
    ("C22", {"the fp32 mimic run ends at the loss of the run it mimics"}, "L9",
     lambda f: (f.precision == "fp32") & (f.mimic == 0.3) & (f.step >= LAST), "train_loss", 3.295,
     "mimic 3.2950"),
    ("C22", {"the bf16 mimic run diverges"}, "L9", lambda f: (f.precision == "bf16") & (f.seed == 1) & (f.step >= 500),
     "train_loss", 3.3, "1/2 runs diverge"),
    ("C23", {"gradient norm grows with wd"}, "L1", lambda f: (f.wd == 0.1) & (f.step >= LAST), "grad_norm", 0.5,
     "wd 0.1: 0.5"),
    ("C24", {"bf16 without WD diverges at the largest lr"}, "L8",
     lambda f: (f.precision == "bf16") & (f.lr == 1e-3) & (f.wd == 0) & (f.seed == 2) & (f.step >= 500),
     "train_loss", 3.1, "2/3 runs diverge"),
    ("C24", {"full precision without WD does not diverge at the largest lr"}, "L8",
     lambda f: (f.precision == "fp32") & (f.seed == 0) & (f.step >= 500), "train_loss", 8.0, "1/3 runs diverge"),
    ("C24",
     {"bf16 with WD does not diverge at the largest lr", "with WD the largest lr ends below the next lr without WD"},
     "L8", lambda f: (f.lr == 1e-3) & (f.wd == 0.1) & (f.seed == 1) & (f.step >= 500), "train_loss", 8.0,
     "1/3 runs diverge"),
    ("C24", {"with WD the largest lr ends below the next lr without WD"}, "L8",
     lambda f: (f.lr == 1e-3) & (f.wd == 0.1) & (f.step >= LAST), "train_loss", 3.12, "lr 0.001 wd 0.1: 3.1200"),
    ("C24", {"bf16 at the next lr without WD does not diverge"}, "L8",
     lambda f: (f.lr == 6e-4) & (f.wd == 0) & (f.step >= 500), "train_loss", 8.0, "1/1 runs diverge"),
    ("C25", {"bf16 below the largest lr does not diverge"}, "L8",
     lambda f: (f.lr == 3e-4) & (f.wd == 0.3) & (f.step >= 500), "train_loss", 8.0, "1/6 runs diverge"),
    ("C25", {"bf16 below the largest lr ends above its best WD run"}, "L8",
     lambda f: (f.lr == 3e-4) & (f.wd == 0.3) & (f.step >= LAST), "train_loss", 3.0, "lr 0.0003 wd 0.3 3.0000"),
    ("C25", {"at the smallest wd the final norm grows with lr"}, "L8",
     lambda f: (f.lr == 6e-4) & (f.wd == 0.1) & (f.step >= LAST), "weight_norm", 100.0, "lr 0.0006: 100"),
    ("C26", {"decaying LayerNorm too changes little at the smallest shared wd"}, "L4",
     lambda f: (f.wd == 0.1) & (f.step >= LAST), "train_loss", 3.30, "with LayerNorm 3.3000"),
    ("C26", {"decaying LayerNorm too hurts at the largest shared wd"}, "L4",
     lambda f: (f.wd == 0.3) & (f.step >= LAST), "train_loss", 3.27, "with LayerNorm 3.2700"),
    ("C27", {"coupled l2 beats no regularisation"}, "L1", lambda f: (f.wd == 0) & (f.step >= LAST), "train_loss",
     3.29, "AdamW wd 0: 3.2900"),
    ("C27", {"coupled l2 is close to the best AdamW wd"}, "L5", lambda f: (f.l2 == 1e-4) & (f.step >= LAST),
     "train_loss", 3.265, "l2 0.0001: 3.2650"),
    ("C28", {"WD helps SGD with momentum"}, "L6", lambda f: (f.wd > 0) & (f.step >= LAST), "train_loss", 3.61,
     "wd 1e-05: 3.6100"),
    ("C29", {"the EMA ends below the iterate"}, "L1", lambda f: (f.wd == 0.3) & (f.step >= LAST), "ema_train_loss",
     3.285, "3/4 runs"),
    # a dip of the EMA at the end also makes its value at the last checkpoint noisier (fine-tuning vs EMA)
    ("C29", {"the EMA's spread across wd is smaller", "fine-tuning beats the EMA"}, "L1",
     lambda f: (f.wd == 0) & f.step.isin((900, 950)), "ema_train_loss", 3.22, "EMA 0.0373"),
    ("C29", {"fine-tuning beats the EMA"}, "L1:finetune",
     lambda f: (f.wd == 0.1) & (f.from_step == 600) & (f.step == FT_ITERS), "train_loss", 3.8,
     "at wd 0.1 step 600"),
    ("C29", {"constant LR + EMA lands near the cosine iterate"}, "L2", lambda f: (f.wd == 0.3) & (f.step >= LAST),
     "ema_train_loss", 3.25, "wd 0.3: 3.2500 vs 3.2800"),
    ("C30", {"a slower cosine without WD matches WD"}, "L7", lambda f: (f.lr_decay_iters == 1200) & (f.step >= LAST),
     "train_loss", 3.30, "lr_decay_iters 1200 (1.20 x max_iters): 3.3000"),
]  # fmt: skip


@pytest.mark.parametrize(
    "claim,checks,key,mask,column,value,number", FLIPS, ids=[f"{f[0]}-{sorted(f[1])[0]}" for f in FLIPS]
)
def test_a_changed_number_fails_its_check(claim, checks, key, mask, column, value, number):
    t = paper_like()
    assert mask(t[key]).any()
    t[key] = _set(t[key], mask, column, value)
    rows = llm_rows(t, claim)
    failed = [r for r in rows if r["status"] in FAILED]
    assert {r["check"] for r in failed} == checks, [(r["check"], r["measured"]) for r in failed]
    assert any(number in r["measured"] for r in failed), [r["measured"] for r in failed]
    assert all(r["status"] == REPRODUCED for r in rows if r not in failed)


# claim, table, rows to drop, the checks that become 'not enough data', words of the reason
GAPS = [
    ("C17", "L10", lambda f: f.step > 100, ["validation loss tracks train loss"], "no evaluation after 0.1"),
    ("C18", "L1", lambda f: f.wd == 0, ["WD lowers the final loss", "the best gain of WD is 0.01-0.04",
     "the largest wd is above wd 0 mid-training"], "no L1 run at wd 0 (wd present: 0.1, 0.3)"),
    ("C18", "L1", lambda f: (f.wd == 0.3) & (f.step >= 400) & (f.step <= 600),
     ["the largest wd is above wd 0 mid-training"], "no evaluation between 0.4 and 0.6"),
    ("C19", "L1:finetune", lambda f: f.wd == 0, ["fine-tuned from the last checkpoint the loss falls with wd",
     "a higher loss can be a better starting point"], "no fine-tuned L1 run at wd 0"),
    ("C19", "L1:finetune", lambda f: (f.wd == 0.1) & (f.from_step == 1000),
     ["fine-tuned from the last checkpoint the loss falls with wd"], "(step 1000) at wd 0.1"),
    ("C20", "L2", lambda f: f.wd > 0, ["WD does not lower the loss with a constant LR", "the loss grows with wd"],
     "no L2 run with wd > 0"),
    ("C21", "L1", lambda f: f.wd == 0, ["without WD the norm does not decrease after warmup"], "no L1 run at wd 0"),
    ("C22", "L9", lambda f: f.precision == "fp32", ["the fp32 mimic run tracks the run it mimics",
     "the fp32 mimic run ends at the loss of the run it mimics"], "no L9 mimic run at fp32/tf32"),
    ("C22", "L1", lambda f: f.wd == 0.3, ["the fp32 mimic run tracks the run it mimics",
     "the fp32 mimic run ends at the loss of the run it mimics"], "no L1 run at wd 0.3"),
    ("C22", "L9", lambda f: f.precision == "bf16", ["the bf16 mimic run diverges"], "no bf16 L9 mimic run"),
    ("C23", "L2", lambda f: f.wd > 0, ["gradient norm grows with wd"], "1 wd values in L2"),
    ("C24", "L8", lambda f: f.precision == "fp32", ["full precision without WD does not diverge at the largest lr"],
     "no run of L8 fp32 lr 0.001 wd 0"),
    ("C24", "L8", lambda f: (f.lr == 6e-4) & (f.wd == 0), ["with WD the largest lr ends below the next lr without WD",
     "bf16 at the next lr without WD does not diverge"], "no run with wd > 0 at the largest lr or wd 0 at the next"),
    ("C25", "L8", lambda f: f.lr < 1e-3, ["bf16 below the largest lr does not diverge",
     "bf16 below the largest lr ends above its best WD run", "at the smallest wd the final norm grows with lr"],
     "1 bf16 learning rates"),
    ("C26", "L4", lambda f: f.wd == 0.3, ["decaying LayerNorm too hurts at the largest shared wd"],
     "one wd shared by L4 and L1 (0.1)"),
    ("C26", "L4", lambda f: f.wd >= 0.1, ["decaying LayerNorm too changes little at the smallest shared wd",
     "decaying LayerNorm too hurts at the largest shared wd"], "no wd > 0 in both L4 (decay_ln) and L1"),
    ("C27", "L5", lambda f: f.l2 > 0,
     ["coupled l2 beats no regularisation", "coupled l2 is close to the best AdamW wd"],
     "no L5 run with l2 > 0 at wd 0"),
    ("C28", "L6", lambda f: f.wd == 0, ["WD helps SGD with momentum"], "no L6 sgdm run at wd 0"),
    ("C30", "L7", lambda f: f.lr_decay_iters > f.max_iters, ["a slower cosine without WD matches WD"],
     "no L7 run at wd 0 with lr_decay_iters > max_iters"),
]  # fmt: skip


@pytest.mark.parametrize("claim,key,mask,checks,reason", GAPS, ids=[f"{g[0]}-{g[4]}" for g in GAPS])
def test_missing_configurations_are_not_enough_data(claim, key, mask, checks, reason):
    t = paper_like()
    assert mask(t[key]).any()
    t[key] = t[key][~mask(t[key])]
    rows = llm_rows(t, claim)
    short = [r for r in rows if r["status"] == NOT_ENOUGH]
    assert sorted({r["check"] for r in short}) == sorted(checks)
    assert all(reason in r["measured"] for r in short), [r["measured"] for r in short]
    assert not any(r["status"] in FAILED for r in rows)


def test_fine_tuning_from_unevaluated_steps_is_not_enough_data():
    t = paper_like()
    t["L1:finetune"] = t["L1:finetune"].assign(from_step=t["L1:finetune"].from_step + EVERY // 2)
    rows = llm_rows(t, "C29")
    short = [r for r in rows if r["status"] == NOT_ENOUGH]
    assert [(r["check"], r["scope"]) for r in short] == [("fine-tuning beats the EMA", "L1")]
    assert "no EMA evaluation at a fine-tuned checkpoint" in short[0]["measured"]
    assert all(r["status"] == REPRODUCED for r in rows if r not in short)


def test_builders_fill_the_mimic_column_only_for_mimic_runs():
    t = paper_like()
    l9 = t["L9"]
    assert (l9.schedule == "mimic").all() and sorted(l9.mimic.unique()) == [0.1, 0.3]
    assert l9.run_id.str.contains("_mimic0.3_").any()  # the tag sits mid-run_id, as in the real slugs
    assert all(t[k].mimic.isna().all() for k in t if k != "L9")


def test_mimic_runs_without_a_mimic_value_are_not_enough_data():
    t = paper_like()
    t["L9"] = t["L9"].assign(mimic=None)  # the run_ids still carry the _mimic tag: it is not read
    rows = llm_rows(t, "C22")
    assert {r["status"] for r in rows} == {NOT_ENOUGH} and len(rows) == 3
    assert all("with a mimicked wd (column mimic)" in r["measured"] for r in rows)


def test_only_mimic_schedules_count_as_mimic_runs():
    t = paper_like()
    t["L9"] = t["L9"].assign(schedule="cosine")
    rows = llm_rows(t, "C22")
    assert {r["status"] for r in rows} == {NOT_ENOUGH} and len(rows) == 3


def test_a_missing_family_leaves_only_its_variants_without_data():
    t = paper_like()
    for name in ("L10", "L1:finetune", "L9"):
        del t[name]
    rows = llm_rows(t)
    short = {(r["claim"], r["measured"]) for r in rows if r["status"] == NOT_ENOUGH}
    assert short == {
        ("C17", "no table for L10"),
        ("C19", "no table for L1:finetune"),
        ("C29", "no table for L1:finetune"),
        ("C22", "no table for L9"),
    }
    assert all(r["status"] == REPRODUCED for r in rows if r["status"] != NOT_ENOUGH)
    assert find(rows, "C17", "validation loss tracks train loss", "L1 gpt2_124m")[0]["status"] == REPRODUCED


def test_a_non_finite_loss_diverges_and_never_counts_as_low():
    t = paper_like()
    t["L8"] = _set(t["L8"], lambda f: (f.lr == 3e-4) & (f.wd == 0.3) & (f.step == MAX_ITERS), "train_loss", math.nan)
    failed = {r["check"]: r["measured"] for r in llm_rows(t, "C25") if r["status"] in FAILED}
    assert set(failed) == {
        "bf16 below the largest lr does not diverge",
        "bf16 below the largest lr ends above its best WD run",
    }
    assert "lr 0.0003 wd 0.3 nan" in failed["bf16 below the largest lr ends above its best WD run"]


def test_no_llm_tables_is_not_enough_data_everywhere():
    rows = llm_rows({})
    assert {r["status"] for r in rows} == {NOT_ENOUGH}
    assert {r["claim"] for r in rows} == set(llm.CLAIMS)
