"""The language-model trainer: decay groups, l2 vs decoupled arithmetic, schedules, divergence, effective LR,
gradient variance against per-micro-batch gradients, resumption and fine-tuning, on a real token corpus."""

import math

import pytest
import torch
from wdecay.data import tokens
from wdecay.io import tables
from wdecay.models import gpt
from wdecay.training import divergence, llm, llm_optim, schedules
from wdecay.training.preempt import Stopped, StopRequest

CPU = torch.device("cpu")


def llm_run(**over) -> dict:
    run = {
        "preset": "test",
        "family": "L1",
        "run_id": "gpt_mini_docs32_lr0.003_wd0.1_fp32_s0",
        "model": "gpt_mini",
        "dataset": "docs",
        "context": 32,
        "batch_size": 8,
        "micro_batch": 4,
        "seed": 0,
        "lr": 3e-3,
        "wd": 0.1,
        "l2": 0.0,
        "optimizer": "adamw",
        "betas": [0.9, 0.95],
        "momentum": 0.9,
        "decay_ln": False,
        "schedule": "cosine",
        "warmup": 5,
        "lr_decay_iters": 40,
        "min_lr_ratio": 0.1,
        "max_iters": 40,
        "precision": "fp32",
        "mimic": None,
        "grad_clip": 1.0,
        "ema": 0.9,
        "eval_every": 10,
        "eval_sequences": 8,
        "eval_batch": 4,
        "checkpoints": [20, 40],
        "resume_every": 10,
        "compile": False,
        "device": "cpu",
    }
    return run | over


def rates_of(run):
    keys = ("lr", "max_iters", "warmup", "lr_decay_iters", "min_lr_ratio")
    return schedules.rates(run["schedule"], *(run[k] for k in keys))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    tokens.python_docs(folder)
    return folder


def trainer_for(run, corpus, work):
    return llm.LLMTrainer(run, corpus, work, CPU, rates_of(run))


# --- decay groups and optimiser arithmetic ---------------------------------------------------------------------


def test_decay_groups_by_name():
    torch.manual_seed(0)
    model = gpt.build_gpt("gpt_mini", 256, 16)
    groups = llm_optim.decay_groups(model, decay_ln=False)
    decay = [n for n, _ in groups["decay"]]
    no_decay = [n for n, _ in groups["no_decay"]]
    assert "transformer.wte.weight" in decay and "transformer.wpe.weight" in decay
    assert all(any(s in n for s in ("attn", "mlp", "wte", "wpe")) for n in decay)
    assert no_decay and all(".ln_" in n or "ln_f" in n for n in no_decay)
    assert len(decay) + len(no_decay) == len(list(model.parameters()))
    with_ln = [n for n, _ in llm_optim.decay_groups(model, decay_ln=True)["decay"]]
    assert set(with_ln) == set(decay) | set(no_decay)


def _one_step(run, grad_fill=0.5):
    torch.manual_seed(0)
    model = gpt.build_gpt("gpt_mini", 256, 16)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = llm_optim.make_optimizer(model, run, CPU)
    decayed = [p for _, p in llm_optim.decay_groups(model, run["decay_ln"])["decay"]]
    for p in model.parameters():
        p.grad = torch.full_like(p, grad_fill)
    llm_optim.add_l2_gradient(decayed, llm_optim.l2_gradient_coef(run))
    opt.step()
    return before, dict(model.named_parameters())


def test_adamw_decay_is_decoupled_and_only_on_the_decayed_set():
    lr, wd = 1e-2, 0.3
    before, after = _one_step(llm_run(lr=lr, wd=wd))
    # first Adam step with a constant gradient moves every coordinate by lr (m/sqrt(v) = 1 after bias correction)
    w = before["transformer.wte.weight"]
    expected = w * (1 - lr * wd) - lr * 0.5 / (0.5 + 1e-8 / math.sqrt(1 - 0.95)) * 1
    torch.testing.assert_close(after["transformer.wte.weight"].detach(), expected, rtol=0, atol=1e-6)
    ln = before["transformer.ln_f.weight"]
    torch.testing.assert_close(after["transformer.ln_f.weight"].detach(), ln - lr, rtol=0, atol=1e-6)


@pytest.mark.parametrize("penalty,factor", [("full", 2.0), ("half", 1.0)])
def test_l2_penalty_is_coupled_through_adam(penalty, factor):
    """full: c ||w||^2 (the authors' l2_reg, as run), gradient 2c w; half: c/2 ||w||^2, gradient c w."""
    lr, c = 1e-2, 0.7
    before, after = _one_step(llm_run(lr=lr, wd=0.0, l2=c, l2_penalty=penalty))
    w = before["transformer.h.0.mlp.c_fc.weight"]
    g = 0.5 + factor * c * w  # the penalty's gradient joins the loss gradient before Adam normalises it
    expected = w - lr * g / (g.abs() + 1e-8)
    torch.testing.assert_close(after["transformer.h.0.mlp.c_fc.weight"].detach(), expected, rtol=0, atol=1e-5)
    ln = before["transformer.h.0.ln_1.weight"]  # not penalised
    torch.testing.assert_close(after["transformer.h.0.ln_1.weight"].detach(), ln - lr, rtol=0, atol=1e-6)


def test_sgdm_weight_decay_is_coupled():
    lr, wd = 0.1, 0.01
    before, after = _one_step(llm_run(optimizer="sgdm", lr=lr, wd=wd))
    w = before["transformer.h.1.attn.c_attn.weight"]
    torch.testing.assert_close(after["transformer.h.1.attn.c_attn.weight"].detach(), w - lr * (0.5 + wd * w))
    ln = before["transformer.h.1.ln_2.weight"]
    torch.testing.assert_close(after["transformer.h.1.ln_2.weight"].detach(), ln - lr * 0.5)


# --- schedules -------------------------------------------------------------------------------------------------


def test_cosine_schedule_warmup_decay_and_floor():
    r = schedules.rates("cosine", 1.0, max_iters=120, warmup=10, decay_iters=110, min_ratio=0.1)
    assert len(r) == 120
    assert r[0] == pytest.approx(1 / 11) and r[9] == pytest.approx(10 / 11)
    assert r[10] == pytest.approx(1.0)
    assert r[60] == pytest.approx(0.55)  # half way: mean of max and floor
    assert all(a >= b for a, b in zip(r[10:], r[11:], strict=False))
    assert r[110:] == [pytest.approx(0.1)] * 10


def test_slower_cosine_never_reaches_the_floor_and_constant_stays():
    slow = schedules.rates("cosine", 1.0, max_iters=100, warmup=0, decay_iters=200, min_ratio=0.1)
    assert slow[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 99 / 200)))
    const = schedules.rates("constant", 2.0, max_iters=50, warmup=4, decay_iters=50, min_ratio=0.1)
    assert const[:4] == pytest.approx([0.4, 0.8, 1.2, 1.6]) and const[4:] == [2.0] * 46


def test_mimic_schedule_gives_the_effective_rate_of_the_run_with_wd():
    base = [1.0] * 10
    steps, without, with_wd = [0, 5, 10], [1.0, 2.0, 4.0], [1.0, 1.0, 1.0]
    r = schedules.mimic_schedule(base, steps, without, with_wd)
    # at iteration t the norms are interpolated at t + 1 (after the step): eta' / ||w^0|| = eta / ||w^lambda||
    assert r[4] == pytest.approx(2.0) and r[9] == pytest.approx(4.0) and r[0] == pytest.approx(1.2)
    for t, rate in enumerate(r):
        assert rate / schedules.interpolate(steps, without, t + 1) == pytest.approx(
            base[t] / schedules.interpolate(steps, with_wd, t + 1)
        )


# --- divergence ------------------------------------------------------------------------------------------------


def test_divergence_definition():
    steps = list(range(0, 101, 10))
    smooth = [5, 4, 3.5, 3.2, 3.1, 3.0, 2.9, 2.85, 2.8, 2.78, 2.75]
    assert not divergence.diverged(steps, smooth, 100)
    spike_recovered = smooth[:5] + [4.5, 3.0, 2.9, 2.8, 2.78, 2.75]
    assert any(divergence.spikes(steps, spike_recovered, 100))
    assert not divergence.diverged(steps, spike_recovered, 100)  # back within 0.5 of the minimum at the end
    stuck = smooth[:5] + [4.5, 4.4, 4.3, 4.2, 4.1, 4.0]
    assert divergence.diverged(steps, stuck, 100)
    early = [5, 9, 3.5, 3.2, 3.1, 3.0, 2.9, 2.85, 2.8, 2.78, 2.75]  # before 20% of the run: not a spike
    assert not any(divergence.spikes(steps, early, 100))
    assert divergence.diverged(steps, smooth[:6] + [math.nan], 100)


# --- training --------------------------------------------------------------------------------------------------


def test_rows_are_self_describing_with_effective_lr_and_norms(corpus, tmp_path):
    run = llm_run()
    trainer = trainer_for(run, corpus, tmp_path / "w")
    rows = trainer.fit()
    table = tables.to_table(rows, tables.LLM_TRAIN)  # schema-checked
    assert table.column("step").to_pylist() == [0, 10, 20, 30, 40]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 1.0  # it learns
    for key in ("run_id", "family", "seed", "lr", "wd", "precision", "model", "context"):
        assert {r[key] for r in rows} == {run[key]}
    rates = rates_of(run)
    decayed = llm_optim.decay_groups(trainer.model, False)["decay"]
    norm = math.sqrt(sum(float(p.detach().double().pow(2).sum()) for _, p in decayed))
    last = rows[-1]
    assert last["weight_norm"] == pytest.approx(norm, rel=1e-5)
    assert last["lr_now"] == pytest.approx(rates[39])
    assert last["eff_lr"] == pytest.approx(rates[39] / norm, rel=1e-5)
    assert last["weight_norm_all"] > last["weight_norm"]
    assert last["tokens"] == 40 * 8 * 32 and last["tokens_per_s"] > 0 and last["mfu"] is None  # no peak on CPU
    assert not any(r["diverged"] for r in rows)
    for step in run["checkpoints"]:
        state = torch.load(trainer.checkpoint_path(step), weights_only=True)
        assert state["step"] == step


def test_loss_and_ema_loss_on_fixed_batches(corpus, tmp_path):
    run = llm_run(max_iters=10, checkpoints=[])
    trainer = trainer_for(run, corpus, tmp_path / "w")
    rows = trainer.fit()
    with torch.no_grad():
        trainer.model.eval()
        val = sum(float(trainer.model(x, y)) for x, y in trainer.eval_batches["val"]) / 2
    assert rows[-1]["val_loss"] == pytest.approx(val, rel=1e-6)
    assert rows[0]["ema_train_loss"] == rows[0]["train_loss"]  # the EMA starts at the initialisation
    assert rows[-1]["ema_train_loss"] != rows[-1]["train_loss"]


def test_evaluation_batch_size_changes_only_the_rounding(corpus, tmp_path):
    """The same 8 sequences in passes of 4 (the micro-batch), of all 8, and of 3 (a smaller last batch)."""
    losses = {}
    for eval_batch in (4, 8, 3):
        trainer = trainer_for(llm_run(max_iters=10, eval_batch=eval_batch), corpus, tmp_path / f"w{eval_batch}")
        assert [len(x) for x, _ in trainer.eval_batches["val"]] == {4: [4, 4], 8: [8], 3: [3, 3, 2]}[eval_batch]
        losses[eval_batch] = [trainer.loss_on(trainer.model, split).item() for split in ("train", "val")]
    assert losses[8] == pytest.approx(losses[4], rel=1e-6) and losses[3] == pytest.approx(losses[4], rel=1e-6)


def test_gradient_variance_equals_the_per_micro_batch_computation(corpus, tmp_path):
    run = llm_run(batch_size=12, micro_batch=4, wd=0.0, grad_clip=1e9, checkpoints=[])
    trainer = trainer_for(run, corpus, tmp_path / "w")
    state = trainer.generator.get_state()
    trainer.train_step(measure=True)
    measured_var, measured_norm = float(trainer.grad_var), float(trainer.grad_norm)
    # the same three micro-batches, differentiated separately from the initial weights
    twin = trainer_for(run, corpus, tmp_path / "w2")
    twin.generator.set_state(state)
    grads = []
    for _ in range(3):
        x, y = twin.train_data.sample(4, 32, twin.generator)
        twin.model.zero_grad()
        twin.model(x, y).backward()
        grads.append(torch.cat([p.grad.flatten().double() for p in twin.params]))
    g = torch.stack(grads)
    mean = g.mean(0)
    exact = float(((g - mean) ** 2).sum(1).sum() / 2)
    assert measured_var == pytest.approx(exact, rel=1e-4)
    assert measured_norm == pytest.approx(float(mean.norm()), rel=1e-5)


def test_stop_and_resume_is_bit_identical(corpus, tmp_path):
    run = llm_run(resume_every=1000)
    reference = trainer_for(run, corpus, tmp_path / "ref").fit()
    trainer = trainer_for(run, corpus, tmp_path / "w")
    stop = StopRequest()
    original = trainer.train_step

    def step_then_stop(measure):
        original(measure)
        if trainer.step == 23:
            stop.request(15)

    trainer.train_step = step_then_stop
    with pytest.raises(Stopped):
        trainer.fit(stop)
    resumed = trainer_for(run, corpus, tmp_path / "w").fit()
    keys = ("step", "train_loss", "val_loss", "ema_val_loss", "grad_norm", "grad_var", "weight_norm")
    assert [[r[k] for k in keys] for r in resumed] == [[r[k] for k in keys] for r in reference]


def test_non_finite_loss_ends_the_run_cleanly(corpus, tmp_path):
    run = llm_run()
    torch.manual_seed(0)
    model = gpt.build_gpt("gpt_mini", 256, 32)
    with torch.no_grad():
        model.transformer.ln_f.weight[0] = math.nan
    trainer = llm.LLMTrainer(run, corpus, tmp_path / "w", CPU, rates_of(run), init={"model": model.state_dict()})
    rows = trainer.fit()
    assert len(rows) == 1 and math.isnan(rows[0]["train_loss"])
    assert rows[0]["diverged"] and rows[0]["spike"]
    tables.to_table(rows, tables.LLM_TRAIN)
    assert all(trainer.checkpoint_path(s).exists() for s in run["checkpoints"])


def test_finetune_keeps_identity_and_starts_from_the_checkpoint(corpus, tmp_path):
    run = llm_run(checkpoints=[20], max_iters=20)
    trainer = trainer_for(run, corpus, tmp_path / "w")
    rows = trainer.fit()
    ft = {"iters": 10, "lr": 1e-5, "wd": 0.0, "eval_every": 5, "keep_optimizer": True}
    out = tmp_path / "ft.parquet"
    llm.finetune(run, ft, 20, trainer.checkpoint_path(20), corpus, out, tmp_path / "wft")
    ft_rows = tables.read(out, tables.LLM_FINETUNE).to_pylist()
    assert [r["step"] for r in ft_rows] == [0, 5, 10]
    assert ft_rows[0]["train_loss"] == pytest.approx(rows[-1]["train_loss"], rel=1e-6)
    assert {r["run_id"] for r in ft_rows} == {run["run_id"]} and {r["from_step"] for r in ft_rows} == {20}
    assert ft_rows[-1]["train_loss"] < ft_rows[0]["train_loss"] + 0.05


def test_finetune_runs_at_its_own_weight_decay_with_the_runs_moments(corpus, tmp_path):
    """Fine-tuning from a lambda = 0.1 checkpoint: the param groups hold the fine-tuning's wd 0 and lr (not the
    checkpoint's), Adam's moments are the checkpoint's, and a step moves the weights exactly as AdamW at wd 0
    from that state would."""
    run = llm_run(checkpoints=[20], max_iters=20, wd=0.1)
    trainer = trainer_for(run, corpus, tmp_path / "w")
    trainer.fit()
    state = torch.load(trainer.checkpoint_path(20), map_location=CPU, weights_only=True)
    assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [0.1, 0.0]
    ft = {"iters": 10, "lr": 1e-5, "wd": 0.0, "eval_every": 5, "keep_optimizer": True}
    settings = llm.finetune_settings(run, ft, 20)
    tuned = llm.LLMTrainer(
        settings, corpus, tmp_path / "wft", CPU, [ft["lr"]] * ft["iters"], init=state, keep_optimizer=True
    )
    assert [(g["weight_decay"], g["lr"]) for g in tuned.optimizer.param_groups] == [(0.0, 1e-5), (0.0, 1e-5)]
    moments = [s["exp_avg"] for s in state["optimizer"]["state"].values()]
    in_order = [p for group in tuned.optimizer.param_groups for p in group["params"]]  # the state's indexing
    assert all(torch.equal(tuned.optimizer.state[p]["exp_avg"], m) for p, m in zip(in_order, moments, strict=True))

    torch.manual_seed(0)
    reference = gpt.build_gpt(run["model"], gpt.padded_vocab(tuned.meta["vocab_size"]), run["context"])
    reference.load_state_dict(state["model"])
    adamw = llm_optim.make_optimizer(reference, llm_run(wd=0.0, lr=1e-5), CPU)
    # a second copy of the state: optimizers loaded from one dict share its moment tensors and update them in place
    adamw.load_state_dict(torch.load(trainer.checkpoint_path(20), map_location=CPU, weights_only=True)["optimizer"])
    for group in adamw.param_groups:
        group.update(weight_decay=0.0, lr=1e-5)
    g = torch.Generator().manual_seed(3)
    for a, b in zip(tuned.model.parameters(), reference.parameters(), strict=True):
        a.grad = torch.randn(a.shape, generator=g)
        b.grad = a.grad.clone()
    tuned.optimizer.step()
    adamw.step()
    for (name, a), b in zip(tuned.model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
