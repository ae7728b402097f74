import itertools

import pandas as pd
import pyarrow.parquet as pq
import pytest
from wdecay.figures import curves
from wdecay.figures.render import render, save
from wdecay.io import tables

SPEC = {
    "plot": "seed_curves",
    "family": "V1",
    "metric": "test_err",
    "ylabel": "Test error",
    "logy": True,
    "weights": "iterate",
}


def v1_frame():
    rows = []
    grid = [("vgg16", "cifar10", (0.1, 0.01), 0.008), ("preact_resnet34", "cifar100", (0.15, 0.001), 0.01)]
    for (model, dataset, lrs, wd_on), lr_index, wd_index, seed, epoch, weights in itertools.product(
        grid, (0, 1), (0, 1), (0, 1, 2), range(5), ("iterate", "ema0.999")
    ):
        lr, wd = lrs[lr_index], (0.0, wd_on)[wd_index]
        row = {f.name: None for f in tables.VISION_TRAIN}
        row |= {
            "preset": "t",
            "family": "V1",
            "run_id": f"{model}_{lr}_{wd}_{seed}",
            "model": model,
            "dataset": dataset,
            "seed": seed,
            "lr": lr,
            "wd": wd,
            "momentum": 0.0,
            "precision": "fp32",
            "width": 1.0,
            "code_version": "v",
            "epoch": epoch,
            "weights": weights,
            "lr_now": lr if epoch <= 2 else 1e-4,
            "test_err": 0.5 / (epoch + 1) + 0.01 * seed,
        }
        rows.append(row)
    return pd.DataFrame(rows)


def test_seed_curves_draws_one_panel_per_model_and_returns_its_data(tmp_path):
    fig, data = render(SPEC, {"train": v1_frame()})
    axes = fig.get_axes()
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["VGG16 on CIFAR-10", "PreAct ResNet-34 on CIFAR-100"]
    assert axes[0].get_yscale() == "log" and axes[0].get_legend() is not None and axes[1].get_legend() is None
    assert len(data) == 2 * 4 * 3 * 5  # panels x configs x seeds x epochs, iterate only
    assert set(data.config) == {"large LR + WD", "large LR", "small LR + WD", "small LR"}
    assert {"run_id", "seed", "lr", "wd", "precision", "code_version", "panel", "epoch", "test_err"} <= set(data)
    # the band is mean +- sd over seeds: check one point against the data
    point = data[(data.panel == "VGG16 on CIFAR-10") & (data.config == "large LR") & (data.epoch == 0)]
    assert point.test_err.mean() == pytest.approx(0.51)
    assert curves.decay_epoch(data.assign(lr_now=v1_frame().query("weights == 'iterate'").lr_now.values)) == 2

    paths = [tmp_path / n for n in ("f.pdf", "f.png", "f.data.parquet")]
    save(fig, data, *paths)
    assert all(p.stat().st_size > 1000 for p in paths[:2])
    assert pq.read_table(paths[2]).num_rows == len(data)


def test_other_grids_get_plain_labels_and_missing_weights_fail_clearly():
    frame = v1_frame()
    frame.loc[frame.lr == 0.01, "lr"] = 0.02
    frame.loc[frame.lr == 0.02, "wd"] = 0.5
    _, data = render(SPEC, {"train": frame})
    assert "lr=0.02, wd=0.5" in set(data.config)
    with pytest.raises(ValueError, match="ema0.9"):
        render(SPEC | {"weights": "ema0.9"}, {"train": frame})


def trace_frame(values: dict):
    """A measure table of fine-tuned Hessian traces: {lr: [estimate at checkpoint 0, 3, 6]}."""
    rows = []
    for lr, series in values.items():
        for epoch, value in zip((0, 3, 6), series, strict=True):
            row = {f.name: None for f in tables.MEASURE}
            row |= {
                "preset": "t",
                "family": "V2",
                "run_id": f"v2_{lr}",
                "model": "preact_resnet18",
                "dataset": "digits10",
                "seed": 0,
                "lr": lr,
                "wd": 0.0,
                "momentum": 0.0,
                "precision": "fp32",
                "width": 1.0,
                "code_version": "v",
                "epoch": epoch,
                "weights": "finetuned",
                "measure": "hessian_trace",
                "quantity": "trace",
                "value": value,
                "stderr": 1.0,
                "samples": 10,
            }
            rows.append(row)
    return pd.DataFrame(rows)


TRACE_PANEL = {"title": "(c) fine-tuned iterates", "table": "measure", "measure": "hessian_trace",
               "weights": ["finetuned"], "y": "value", "ylabel": "Tr(Hessian)", "logy": True}  # fmt: skip


def test_a_log_panel_keeps_a_negative_estimate_on_a_symlog_axis():
    frames = {"measure": trace_frame({1e-3: [2e4, -86.0, 5e3], 3e-3: [1e4, 4e3, 2e3]}), "finetune": None}
    fig, data = render({"plot": "panels", "family": "V2", "panels": [TRACE_PANEL]}, frames)
    (ax,) = fig.get_axes()
    assert ax.get_yscale() == "symlog"
    low, high = ax.get_ylim()
    assert low < -86.0 and high > 2e4  # the negative estimate is inside the axis, not dropped
    assert (data.y < 0).sum() == 1


def test_a_log_panel_of_positive_values_stays_logarithmic():
    frames = {"measure": trace_frame({1e-3: [2e4, 86.0, 5e3]}), "finetune": None}
    fig, _ = render({"plot": "panels", "family": "V2", "panels": [TRACE_PANEL]}, frames)
    assert fig.get_axes()[0].get_yscale() == "log"


def test_decay_epoch_of_a_rate_that_drops_within_the_first_epoch_is_none():
    # N1's largest training set: one pass, the rate decayed mid-epoch, so no evaluated epoch ran at the large rate
    rows = pd.DataFrame({"epoch": [0, 1], "lr": [0.1, 0.1], "lr_now": [0.1, 0.001]})
    assert curves.decay_epoch(rows) is None
    assert curves.decay_epoch(rows.assign(lr_now=0.1)) is None
    assert curves.decay_epoch(pd.DataFrame({"epoch": [0, 1, 2], "lr": [0.1] * 3, "lr_now": [0.1, 0.1, 0.001]})) == 1


def test_panels_legends_hold_no_column_names_and_epoch_ticks_are_whole():
    frame = v1_frame()
    frame = frame[frame.model == "vgg16"].assign(weight_norm=1.0 + frame.epoch)
    panel = {"title": "norm", "table": "train", "weights": ["iterate", "ema0.999"], "y": "weight_norm",
             "ylabel": "norm"}  # fmt: skip
    fig, _ = render({"plot": "panels", "family": "V1", "panels": [panel]}, {"train": frame, "finetune": None})
    (ax,) = fig.get_axes()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "iterate" in labels and "ema0.999" in labels  # the line styles are explained...
    assert not {"lr_label", "weights"} & set(labels)  # ...without seaborn's section headers
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_a_bar_panel_is_labelled_by_its_x_column_and_keeps_a_long_title():
    rows = trace_frame({5e-3: [0.7, 0.9, 0.1]})
    rows = rows.assign(measure="hessian_noise", weights="iterate", epoch=1, quantity=["cos_H", "cos_G", "cos_E"])
    panel = {"title": "cosine between A v and the noise covariance times v", "table": "measure",
             "measure": "hessian_noise", "x": "quantity", "kind": "bars", "y": "value", "ylabel": "cos"}  # fmt: skip
    fig, _ = render({"plot": "panels", "family": "V2", "panels": [panel]}, {"measure": rows, "finetune": None})
    (ax,) = fig.get_axes()
    assert ax.get_xlabel() == "quantity" and "\n" in ax.get_title()
