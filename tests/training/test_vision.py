import math
import os
import signal
import threading
import time

import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_settings
from torch.nn import functional as F
from wdecay.data import images
from wdecay.data.loader import DeviceImages, channel_stats
from wdecay.io import tables
from wdecay.models.vision import build_model
from wdecay.training import vision
from wdecay.training.preempt import Stopped

CPU = torch.device("cpu")


def fit(run, data_dir, work_dir):
    trainer = vision.VisionTrainer(run, data_dir, work_dir, CPU)
    return trainer, trainer.fit()


def test_evaluate_averages_over_examples_not_batches(digits_dir):
    splits, _ = images.load_prepared(digits_dir)
    x, y = splits["test"]
    data = DeviceImages(x, y, *channel_stats(splits["train"][0]), CPU)
    torch.manual_seed(0)
    model = build_model("preact_resnet18", 10, 0.0625).eval()
    err, ce = vision.evaluate(model, data, batch_size=33, precision="fp32")  # 100 = 33 + 33 + 33 + 1
    with torch.no_grad():
        logits = model(next(data.sequential(len(data)))[0])
    labels = torch.as_tensor(y)
    assert float(ce) == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
    assert float(err) == pytest.approx(float((logits.argmax(1) != labels).float().mean()))


def test_rows_are_self_describing_and_consistent(digits_dir, tmp_path):
    run = run_settings(epochs=3, checkpoints=[3])
    trainer, rows = fit(run, digits_dir, tmp_path / "work")
    table = tables.to_table(rows, tables.VISION_TRAIN)  # schema-checked
    assert table.num_rows == 4 * 2  # epochs 0..3, iterate and one EMA
    assert {r["weights"] for r in rows} == {"iterate", "ema0.9"}
    for row in rows:
        for key in ("preset", "family", "run_id", "model", "dataset", "seed", "lr", "wd", "precision", "code_version"):
            assert row[key] == run[key] if key in run else row[key]
        assert row["reg_loss"] == pytest.approx(row["train_ce"] + 0.5 * run["wd"] * row["weight_norm"] ** 2)
        assert row["eta_lambda"] == pytest.approx(row["lr_now"] * run["wd"])
    last = [r for r in rows if r["weights"] == "iterate"][-1]
    norm = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in trainer.model.parameters()))
    assert last["weight_norm"] == pytest.approx(norm, rel=1e-5) == last["weight_norm_all"]
    assert [r["lr_now"] for r in rows if r["weights"] == "iterate"] == [0.1, 0.1, 0.1, 1e-3]  # decay after epoch 2
    assert last["step"] == 3 * (200 // 32)


def test_a_step_budget_ends_the_last_epoch_early_and_decays_by_step(digits_dir, tmp_path):
    """200 images at batch 32: 6 steps per epoch; 15 steps take 3 epochs, the last of 3 steps; the rate drops
    after step 8 (first_decay 0.5 of 15, rounded)."""
    run = run_settings(epochs=3, steps=15, checkpoints=[])
    trainer, rows = fit(run, digits_dir, tmp_path / "w")
    iterate = [r for r in rows if r["weights"] == "iterate"]
    assert [r["epoch"] for r in iterate] == [0, 1, 2, 3] and [r["step"] for r in iterate] == [0, 6, 12, 15]
    assert [r["lr_now"] for r in iterate] == [0.1, 0.1, 1e-3, 1e-3]  # the rate of each epoch's last step
    assert [trainer.lr_of_step(s) for s in (8, 9)] == [0.1, 1e-3] and trainer.optimizer.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="steps 15 at 6 steps per epoch take 3 epochs, but the run has epochs 4"):
        vision.VisionTrainer(run | {"epochs": 4}, digits_dir, tmp_path / "w2", CPU)


def test_training_learns(digits_dir, tmp_path):
    _, rows = fit(run_settings(epochs=8, lr=0.3, first_decay=1.0), digits_dir, tmp_path / "work")
    iterate = [r for r in rows if r["weights"] == "iterate"]
    assert iterate[-1]["train_ce"] < 0.7 * iterate[1]["train_ce"]
    assert iterate[-1]["train_err"] < 0.5


def test_reruns_are_bit_identical_on_cpu(digits_dir, tmp_path):
    a, rows_a = fit(run_settings(), digits_dir, tmp_path / "a")
    b, rows_b = fit(run_settings(), digits_dir, tmp_path / "b")
    assert rows_a == rows_b
    for ta, tb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(ta, tb)


class Killed(Exception):
    pass


@pytest.mark.parametrize("resume_every,kill_at", [(1, 3), (2, 4), (2, 2)])
def test_a_killed_run_resumes_to_the_same_numbers(digits_dir, tmp_path, monkeypatch, resume_every, kill_at):
    """A hard kill (SIGKILL, node failure) in epoch ``kill_at``: the rerun resumes from the last periodic state."""
    run = run_settings(epochs=5, resume_every=resume_every, checkpoints=[2, 5])
    paths = {2: tmp_path / "out/ckpt/epoch2.pt", 5: tmp_path / "out/ckpt/epoch5.pt"}
    metrics = tmp_path / "out/metrics.parquet"
    vision.train(run, digits_dir, tmp_path / "ref.parquet", {}, tmp_path / "ref")  # same thread count as below
    reference = pq.read_table(tmp_path / "ref.parquet").to_pylist()

    original = vision.VisionTrainer.train_epoch

    def dying(self, stop=None):
        if self.epoch + 1 == kill_at:
            raise Killed
        return original(self, stop)

    monkeypatch.setattr(vision.VisionTrainer, "train_epoch", dying)
    with pytest.raises(Killed):
        vision.train(run, digits_dir, metrics, paths, tmp_path / "work")
    assert not metrics.exists() and not any(p.exists() for p in paths.values()), "no partial outputs"
    assert (tmp_path / "work" / "state.pt").exists() == (kill_at > resume_every)

    monkeypatch.setattr(vision.VisionTrainer, "train_epoch", original)
    vision.train(run, digits_dir, metrics, paths, tmp_path / "work")
    assert pq.read_table(metrics).to_pylist() == reference
    assert not (tmp_path / "work").exists()
    final = torch.load(paths[5], weights_only=True)
    assert final["epoch"] == 5 and final["run"] == run and final["rows"] == reference


class StopAtStep:
    """A stop request that turns true once the trainer has made ``step`` optimizer steps."""

    def __init__(self, trainer, step):
        self.trainer, self.step, self.signum = trainer, step, signal.SIGTERM

    def __bool__(self):
        return self.trainer.step >= self.step


@pytest.mark.parametrize("stop_step", [1, 8, 12, 18])  # 6 steps per epoch: mid-epoch, last step of epoch 2, ...
def test_a_stop_request_saves_after_the_step_and_resumes_to_the_same_numbers(digits_dir, tmp_path, stop_step):
    run = run_settings(epochs=4, resume_every=10, checkpoints=[2, 4], ema=[0.9, 0.5], momentum=0.9)
    reference, rows = fit(run, digits_dir, tmp_path / "ref")

    stopped = vision.VisionTrainer(run, digits_dir, tmp_path / "work", CPU)
    with pytest.raises(Stopped, match=f"stopped by SIGTERM .*step {stop_step}\\)"):
        stopped.fit(StopAtStep(stopped, stop_step))
    state = torch.load(stopped.state_path, weights_only=True)
    assert (state["step"], state["epoch"] * 6 + state["batch"]) == (stop_step, stop_step)

    resumed = vision.VisionTrainer(run, digits_dir, tmp_path / "work", CPU)
    assert resumed.fit() == rows
    for ta, tb in zip(reference.snapshot()["ema"].values(), resumed.snapshot()["ema"].values(), strict=True):
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    for ta, tb in zip(reference.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(ta, tb)


def test_sigterm_saves_the_state_and_the_rerun_finishes_identically(digits_dir, tmp_path):
    """A real SIGTERM to this process while it trains (as SLURM sends before preemption or the time limit)."""
    run = run_settings(epochs=5, resume_every=10, checkpoints=[2, 5])
    work, metrics = tmp_path / "work", tmp_path / "metrics.parquet"
    vision.train(run, digits_dir, tmp_path / "ref.parquet", {}, tmp_path / "ref")
    reference = pq.read_table(tmp_path / "ref.parquet").to_pylist()

    def terminate_after_first_checkpoint():
        while not (work / "epoch2.pt").exists():
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_after_first_checkpoint, daemon=True)
    killer.start()
    with pytest.raises(Stopped) as stopped:
        vision.train(run, digits_dir, metrics, {}, work)
    killer.join()
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "handlers restored"
    assert not metrics.exists() and torch.load(work / "state.pt", weights_only=True)["step"] >= 2 * 6

    vision.train(run, digits_dir, metrics, {}, work)
    assert pq.read_table(metrics).to_pylist() == reference


def test_state_from_other_settings_is_discarded(digits_dir, tmp_path):
    work = tmp_path / "work"
    trainer = vision.VisionTrainer(run_settings(lr=0.5), digits_dir, work, CPU)
    trainer.save(trainer.state_path)
    _, rows = fit(run_settings(), digits_dir, work)
    _, reference = fit(run_settings(), digits_dir, tmp_path / "ref")
    assert rows == reference


def test_checkpoint_reproduces_the_logged_metrics(digits_dir, tmp_path):
    run = run_settings(epochs=2, checkpoints=[2])
    trainer, rows = fit(run, digits_dir, tmp_path / "work")
    state = torch.load(trainer.checkpoint_path(2), weights_only=True)
    model = build_model(run["model"], state["classes"], run["width"])
    model.load_state_dict(state["model"])
    err, ce = vision.evaluate(model, trainer.test, 100, "fp32")
    last = [r for r in rows if r["weights"] == "iterate" and r["epoch"] == 2][0]
    assert float(err) == last["test_err"] and float(ce) == pytest.approx(last["test_ce"], rel=1e-6)
    ema = build_model(run["model"], state["classes"], run["width"])
    ema.load_state_dict(state["ema"]["ema0.9"])
    err, _ = vision.evaluate(ema, trainer.test, 100, "fp32")
    assert float(err) == [r for r in rows if r["weights"] == "ema0.9"][-1]["test_err"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(digits_dir, tmp_path, precision):
    _, rows = fit(run_settings(epochs=2, precision=precision, checkpoints=[]), digits_dir, tmp_path / "w")
    assert all(math.isfinite(r["train_ce"]) for r in rows)
    assert {r["precision"] for r in rows} == {precision}


def trainable_norm(model) -> float:
    return math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in model.parameters() if p.requires_grad))


def test_projected_sgd_keeps_the_scale_invariant_model_on_the_unit_sphere(digits_dir, tmp_path):
    run = run_settings(model="si_preact_resnet18", sphere=True, wd=0.0, lr=0.005, epochs=2, ema=[], checkpoints=[0, 1])
    trainer, rows = fit(run, digits_dir, tmp_path / "work")
    assert trainable_norm(trainer.model) == pytest.approx(1.0, abs=1e-6)
    for epoch in (0, 1):  # the initialisation is projected too
        state = torch.load(trainer.checkpoint_path(epoch), weights_only=True)
        model = build_model("si_preact_resnet18", 10, run["width"])
        model.load_state_dict(state["model"])
        assert trainable_norm(model) == pytest.approx(1.0, abs=1e-6)
    assert all(r["weight_norm"] == pytest.approx(1.0, abs=1e-5) for r in rows)  # wd_params=all: the trainable set
    assert rows[-1]["train_ce"] < rows[0]["train_ce"]


@pytest.mark.parametrize("projection", ["step", "epoch", "init"])
def test_projection_frequency(digits_dir, tmp_path, monkeypatch, projection):
    """Projected SGD on the sphere: at initialisation and after every step (as written, Eq. 3), after every epoch
    but not at initialisation (the authors' train.py), or at initialisation only (their traceh.py)."""
    at_steps, trainer = [], None
    real = vision.project_to_sphere

    def spy(params):
        at_steps.append(trainer.step if trainer else 0)  # optimizer steps taken when projecting
        real(params)

    monkeypatch.setattr(vision, "project_to_sphere", spy)
    run = run_settings(model="si_preact_resnet18", sphere=True, wd=0.0, lr=0.05, epochs=2, ema=[], checkpoints=[])
    trainer = vision.VisionTrainer(run | {"projection": projection}, digits_dir, tmp_path / "w", CPU)
    for _ in range(run["epochs"]):
        trainer.train_epoch()
    n = trainer.train.steps_per_epoch(run["batch_size"])
    # step mode projects right after each SGD step, before the step is counted: at 0, 1, ..., 2n - 1
    expected = {"step": [0, *range(0, 2 * n)], "epoch": [n, 2 * n], "init": [0]}[projection]
    assert at_steps == expected
    assert (trainable_norm(trainer.model) == pytest.approx(1.0, abs=1e-6)) == (projection != "init")


def test_finetuning_starts_from_the_checkpoint_and_keeps_the_run_identity(digits_dir, tmp_path):
    from wdecay.training import finetune

    run = run_settings(epochs=2, checkpoints=[1, 2], lr=0.3)
    trainer, train_rows = fit(run, digits_dir, tmp_path / "work")
    ft = {"epochs": 2, "lr": 0.01, "wd": 0.0}
    metrics, model_path = tmp_path / "ft.parquet", tmp_path / "ft.pt"
    finetune.finetune(
        run, ft, 1, trainer.checkpoint_path(1), digits_dir, metrics, model_path, tmp_path / "ftwork", threads=1
    )
    rows = tables.read(metrics, tables.FINETUNE).to_pylist()
    assert [r["epoch"] for r in rows] == [0, 2]
    assert all(
        (r["lr"], r["wd"], r["run_id"], r["from_epoch"], r["ft_lr"]) == (0.3, 0.01, "test_run", 1, 0.01) for r in rows
    )
    start = next(r for r in train_rows if r["epoch"] == 1 and r["weights"] == "iterate")
    assert rows[0]["test_err"] == start["test_err"] and rows[0]["train_ce"] == pytest.approx(start["train_ce"])
    assert rows[1]["train_ce"] < rows[0]["train_ce"]  # fine-tuning descends the training loss
    assert [r["lr_now"] for r in rows][1] == 0.01
    saved = torch.load(model_path, weights_only=True)
    assert saved["from_epoch"] == 1 and saved["run"]["run_id"] == "test_run"
    assert not (tmp_path / "ftwork").exists()
