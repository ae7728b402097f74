"""The run summary (one row per run) and the `runs` figures drawn from it: heat maps, scatter plots, lines."""

import itertools

import pandas as pd
import pytest
from wdecay.figures import summary
from wdecay.figures.render import render, save
from wdecay.io import tables

LRS, WDS, SEEDS = (0.05, 0.1, 0.2), (0.001, 0.01), (0, 1)


def run_fields(lr, wd, seed):
    return {
        "preset": "t",
        "family": "N3",
        "run_id": f"r_{lr}_{wd}_{seed}",
        "model": "preact_resnet18",
        "dataset": "d",
        "seed": seed,
        "lr": lr,
        "wd": wd,
        "momentum": 0.0,
        "precision": "fp32",
        "width": 1.0,
        "code_version": "v",
    }


def grid_frames():
    """A 3 x 2 grid with two seeds: test error lr + 10 wd + seed/100 at the last epoch (epoch 2), an EMA 0.01
    better, and a Jacobian norm of the EMA measured at epochs 1 (stale) and 2 (latest)."""
    train, measure = [], []
    for lr, wd, seed in itertools.product(LRS, WDS, SEEDS):
        for epoch, weights in itertools.product((0, 1, 2), ("iterate", "ema0.9")):
            row = {f.name: None for f in tables.VISION_TRAIN} | run_fields(lr, wd, seed)
            err = lr + 10 * wd + seed / 100 - (0.01 if weights != "iterate" else 0)
            row |= {
                "epoch": epoch,
                "weights": weights,
                "train_examples": 300,
                "lr_now": lr,
                "test_err": err if epoch == 2 else 0.9,
            }
            row |= {"train_ce": 0.1 * epoch, "train_err": 0.0, "test_ce": 1.0, "weight_norm": 5.0}
            train.append(row)
        for epoch in (1, 2):
            row = {f.name: None for f in tables.MEASURE} | run_fields(lr, wd, seed)
            row |= {"epoch": epoch, "weights": "ema0.9", "measure": "jacobian_norm", "quantity": "norm"}
            row |= {"value": (1 / (lr * wd)) if epoch == 2 else -1.0}
            measure.append(row)
    return pd.DataFrame(train), pd.DataFrame(measure)


def test_summary_has_one_row_per_run_with_final_metrics_and_latest_measures():
    train, measure = grid_frames()
    table = summary.run_summary(train, measure)
    assert len(table) == len(LRS) * len(WDS) * len(SEEDS)
    row = table.set_index("run_id").loc["r_0.1_0.01_1"]
    assert row["test_err@iterate"] == pytest.approx(0.1 + 0.1 + 0.01)
    assert row["test_err@ema0.9"] == pytest.approx(0.2)
    assert row["jacobian_norm.norm@ema0.9"] == pytest.approx(1000.0)  # epoch 2, not the stale epoch 1
    assert row["eta_lambda"] == pytest.approx(0.001) and row["train_examples"] == 300
    assert summary.ema_names(table) == ["ema0.9"]


def test_heatmap_is_the_mean_over_seeds_of_each_cell(tmp_path):
    train, measure = grid_frames()
    spec = {
        "plot": "runs",
        "panels": [
            {"title": "EMA", "kind": "heatmap", "weights": ["ema0.9"], "y": "test_err", "ylabel": "err"},
            {"title": "J", "kind": "heatmap", "weights": ["ema0.9"], "y": "jacobian_norm.norm", "ylabel": "J"},
        ],
    }
    fig, data = render(spec, {"train": train, "finetune": None, "measure": measure})
    cell = data[(data.panel == "EMA") & (data.x == 0.2) & (data.y == 0.001)]
    assert len(cell) == 2 and cell.value.mean() == pytest.approx(0.2 + 0.01 + 0.005 - 0.01)
    assert set(data.columns) >= {"run_id", "seed", "code_version", "panel", "weights", "x", "y", "value"}
    save(fig, data, tmp_path / "f.pdf", tmp_path / "f.png", tmp_path / "f.data.parquet")
    assert (tmp_path / "f.png").stat().st_size > 5000
    assert len(pd.read_parquet(tmp_path / "f.data.parquet")) == 2 * 12


def test_scatter_and_lines_against_run_settings_and_missing_columns_fail_clearly():
    train, measure = grid_frames()
    frames = {"train": train, "finetune": None, "measure": measure}
    spec = {
        "plot": "runs",
        "panels": [
            {"title": "a", "x": "eta_lambda", "y": "jacobian_norm.norm", "weights": ["ema0.9"], "ylabel": "J"},
            {"title": "b", "kind": "lines", "x": "lr", "y": "test_err", "ylabel": "err", "hue": "wd", "logx": True},
        ],
    }
    _, data = render(spec, frames)
    a = data[data.panel == "a"]
    assert (a.y * a.x).round(9).eq(1.0).all()
    assert len(data[data.panel == "b"]) == 12
    bad = {"plot": "runs", "panels": [{"title": "c", "x": "lr", "y": "noise_scale.sigma_sq", "ylabel": "s"}]}
    with pytest.raises(ValueError, match=r"panel 'c': no noise_scale.sigma_sq@iterate"):
        render(bad, frames)


def test_panels_repeat_per_dataset_when_rows_by_dataset():
    train, _ = grid_frames()
    other = train.assign(dataset="e", run_id=train.run_id + "_e")
    frames = {"train": pd.concat([train, other]), "finetune": None, "measure": None}
    panel = {"title": "err", "table": "train", "y": "test_err", "ylabel": "err"}
    fig, data = render({"plot": "panels", "rows_by": "dataset", "panels": [panel, panel]}, frames)
    assert sorted(data.panel.unique()) == ["err (d)", "err (e)"]
    assert len([ax for ax in fig.axes if ax.get_visible() and ax.get_title()]) == 4


def test_the_decay_is_marked_on_epoch_axes_only():
    """ICLR Fig 2 (a) draws the error over learning rates: no epoch marker there (it stretched the axis to 10^1)."""
    train, _ = grid_frames()
    train["lr_now"] = train.lr.where(train.epoch < 2, 1e-4)  # the rate drops after epoch 1
    frames = {"train": train, "finetune": None, "measure": None}
    over_epochs = {"title": "t", "table": "train", "y": "test_err", "ylabel": "err"}
    over_lr = over_epochs | {"title": "f", "x": "lr", "final": True}
    fig, _ = render({"plot": "panels", "panels": [over_epochs, over_lr]}, frames)
    by_title = {ax.get_title(): ax for ax in fig.axes}

    def vertical(ax):
        return [line.get_xdata()[0] for line in ax.lines if len(set(line.get_xdata())) == 1]

    assert vertical(by_title["t"]) == [1] and vertical(by_title["f"]) == []
    assert by_title["f"].get_xlim()[1] < 1  # the rate axis keeps to the rates
