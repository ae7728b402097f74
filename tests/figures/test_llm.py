import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from wdecay.figures import llm
from wdecay.figures.render import render, save
from wdecay.io import tables

STEPS = range(0, 1001, 100)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def loss_at(step, wd, lr, seed):
    return 3.0 + 7.0 * math.exp(-step / 150) + 0.2 * wd + 100 * lr + 0.01 * seed


def llm_train(family="L1", wds=(0.0, 0.1, 0.3), lrs=(6e-4,), seeds=(0,), precisions=("bf16",), steps=STEPS, **run):
    """An llm_train frame with every column of the table: one run per wd x lr x seed x precision. ``run`` overrides
    run settings; ``mimic=`` also tags the run_id mid-way, as the real ones are (..._wd0_mimic0.1_bf16_s0)."""
    rows = []
    tag = f"_mimic{run['mimic']:g}" if run.get("mimic") is not None else ""
    for wd, lr, seed, precision in itertools.product(wds, lrs, seeds, precisions):
        base = {
            "preset": "t",
            "family": family,
            "run_id": f"{family}_lr{lr:g}_wd{wd:g}{tag}_{precision}_s{seed}",
            "model": "gpt2_124m",
            "dataset": "owt",
            "context": 256,
            "batch_size": 8,
            "seed": seed,
            "lr": lr,
            "wd": wd,
            "l2": 0.0,
            "optimizer": "adamw",
            "decay_ln": False,
            "schedule": "cosine",
            "lr_decay_iters": max(steps),
            "max_iters": max(steps),
            "mimic": None,
            "precision": precision,
            "code_version": "v",
        } | run
        for step in steps:
            train = loss_at(step, wd, lr, seed)
            rows.append(
                base
                | {
                    "step": step,
                    "tokens": step * 2048,
                    "lr_now": lr,
                    "train_loss": train,
                    "val_loss": train + 0.02,
                    "ema_train_loss": train - 0.01,
                    "ema_val_loss": train + 0.01,
                    "ema_coef": 0.99,
                    "grad_norm": 1.0 + wd,
                    "grad_var": 0.5,
                    "weight_norm": 100.0 - 10 * wd,
                    "weight_norm_all": 101.0,
                    "eff_lr": lr / (100.0 - 10 * wd),
                    "spike": False,
                    "diverged": False,
                    "tokens_per_s": 1e5,
                    "mfu": None,
                }
            )
    return tables.to_table(rows, tables.LLM_TRAIN).to_pandas()


def llm_finetune(train, from_steps=(500, 1000), ft_steps=range(0, 201, 50)):
    """Fine-tunings of every run of ``train`` from each checkpoint, with every column of llm_finetune."""
    rows = []
    runs = train.drop_duplicates(["family", "run_id"])
    for (_, run), from_step, step in itertools.product(runs.iterrows(), from_steps, ft_steps):
        base = {name: run[name] for name in llm.RUN_COLUMNS}
        loss = loss_at(from_step, run.wd, run.lr, run.seed) - 1e-4 * step
        rows.append(
            base
            | {
                "from_step": from_step,
                "step": step,
                "ft_lr": 1e-5,
                "ft_wd": 0.0,
                "ft_iters": max(ft_steps),
                "train_loss": loss,
                "val_loss": loss + 0.02,
            }
        )
    return tables.to_table(rows, tables.LLM_FINETUNE).to_pandas()


def curves(panels, family="L1", frames=None, **spec):
    frames = frames or {"llm_train": llm_train(), "llm_finetune": None}
    return render({"plot": "llm_curves", "family": family, "panels": panels} | spec, frames)


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_train_and_val_on_one_panel_with_a_line_style_each():
    train = llm_train()
    fig, data = curves([{"title": "loss", "y": ["train_loss", "val_loss"]}], frames={"llm_train": train})
    ax = fig.get_axes()[0]
    assert len(data) == 3 * len(STEPS) * 2  # runs x evaluations x series
    assert set(data.label) == {"λ = 0", "λ = 0.1", "λ = 0.3"}
    assert set(data["style"]) == {"train", "val"} and set(data.source) == {"train"}
    assert legend_labels(ax) == ["λ = 0", "λ = 0.1", "λ = 0.3", "train", "val"]
    assert len(ax.lines) == 6
    # the points are the input
    val = data[data.series == "val_loss"]
    merged = val.assign(step=val.x.astype("int64")).merge(train[["run_id", "step", "val_loss"]], on=["run_id", "step"])
    assert np.allclose(merged.y, merged.val_loss) and len(merged) == 3 * len(STEPS)
    # the y-limits leave out the first 10% of iterations (loss ~10 at step 0)
    low, high = ax.get_ylim()
    kept = data[data.x >= 100].y
    span = kept.max() - kept.min()
    assert (low, high) == pytest.approx((kept.min() - 0.05 * span, kept.max() + 0.05 * span))
    assert {"family", "run_id", "seed", "lr", "wd", "precision", "panel", "series", "label", "x", "y"} <= set(data)


def test_gap_filters_and_labels_of_the_settings_that_vary():
    frame = pd.concat(
        [
            llm_train("L8", wds=(0.0,), lrs=(6e-4, 1e-3), precisions=("bf16",)),
            llm_train("L8", wds=(0.0,), lrs=(1e-3,), precisions=("fp32",)),
            llm_train("L8", wds=(0.1,), lrs=(1e-3,), precisions=("bf16",)),
        ],
        ignore_index=True,
    )
    panels = [
        {"title": "gap", "y": "gap", "wd": [0.0]},
        {"title": "bf16 only", "y": "train_loss", "precision": ["bf16"], "lr": 1.0e-3, "logy": True},
    ]
    fig, data = curves(panels, family="L8", frames={"llm_train": frame}, columns=1)
    gap = data[data.panel == "gap"]
    assert set(gap.label) == {"lr = 6e-4, bf16", "lr = 1e-3, bf16", "lr = 1e-3, fp32"}
    assert np.allclose(gap.y, 0.02) and len(gap) == 3 * len(STEPS)
    bf16 = data[data.panel == "bf16 only"]
    assert set(bf16.label) == {"λ = 0", "λ = 0.1"} and set(bf16.precision) == {"bf16"} and set(bf16.lr) == {1e-3}
    ax = fig.get_axes()[1]
    assert ax.get_yscale() == "log" and ax.get_title() == "bf16 only"


def test_two_families_are_told_apart_by_their_settings_and_filtered_by_decay_ln():
    frame = pd.concat([llm_train("L1"), llm_train("L4", wds=(0.1, 0.3), decay_ln=True)], ignore_index=True)
    panel = {"title": "LN", "y": "train_loss", "family": ["L1", "L4"], "wd": [0.1]}
    _, data = curves([panel, panel | {"title": "L4 only", "decay_ln": True}], frames={"llm_train": frame})
    assert set(data[data.panel == "LN"].label) == {"WD on LayerNorm", "LayerNorm not decayed"}
    assert set(data[data.panel == "L4 only"].family) == {"L4"}
    # same settings in two families: the family names the line
    twin = pd.concat([llm_train("L1"), llm_train("L10", wds=(0.1,))], ignore_index=True)
    _, data = curves([panel | {"family": ["L1", "L10"]}], frames={"llm_train": twin})
    assert set(data.label) == {"L1: λ = 0.1", "L10: λ = 0.1"}
    _, data = curves([panel | {"family": ["L1", "L10"], "hue": "family"}], frames={"llm_train": twin})
    assert set(data.label) == {"L1", "L10"}


def test_finetunings_are_dashed_in_their_runs_colour():
    train = llm_train(wds=(0.0, 0.3))
    ft = llm_finetune(train)
    fig, data = curves(
        [{"title": "FT", "y": "train_loss", "finetune": True}], frames={"llm_train": train, "llm_finetune": ft}
    )
    ax = fig.get_axes()[0]
    tuned = data[data.source == "finetune"]
    assert len(tuned) == len(ft) == 2 * 2 * 5  # runs x checkpoints x fine-tuning evaluations
    assert (tuned.x == tuned.from_step + ft.set_index(tuned.index).step).all()
    assert np.allclose(tuned.y.to_numpy(), ft.train_loss.to_numpy())
    assert data[data.source == "train"].from_step.isna().all()
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert len(dashed) == 4 and len(solid) == 2
    assert {line.get_color() for line in dashed} == {line.get_color() for line in solid}
    assert legend_labels(ax)[-1] == "fine-tuned"
    # with the EMA on the same panel: the iterate solid, the EMA in a style other than the fine-tunings' dash
    frames = {"llm_train": train, "llm_finetune": ft}
    fig, data = curves([{"title": "EMA", "y": ["train_loss", "ema_train_loss"], "finetune": True}], frames=frames)
    ax = fig.get_axes()[0]
    assert set(data[data.source == "finetune"].series) == {"train_loss"} and len(data) == 2 * 2 * len(STEPS) + 20
    patterns = {(line.get_linestyle(), str(line._unscaled_dash_pattern)) for line in ax.lines}
    assert len(patterns) == 3 and legend_labels(ax)[-3:] == ["train", "train (EMA)", "fine-tuned"]
    with pytest.raises(ValueError, match="'FT'"):
        curves([{"title": "FT", "y": "grad_norm", "finetune": True}], frames=frames)
    with pytest.raises(ValueError, match="'FT'"):
        curves([{"title": "FT", "y": "train_loss", "x": "tokens", "finetune": True}], frames=frames)


def test_seeds_as_lines_styled_by_seed_or_as_a_mean():
    train = llm_train("L8", wds=(0.0, 0.1), lrs=(1e-3,), seeds=(0, 1, 2))
    fig, data = curves(
        [{"title": "seeds", "y": "train_loss", "style": "seed"}], family="L8", frames={"llm_train": train}
    )
    ax = fig.get_axes()[0]
    assert len(ax.lines) == 6 and set(data["style"]) == {"seed 0", "seed 1", "seed 2"}
    assert legend_labels(ax) == ["λ = 0", "λ = 0.1", "seed 0", "seed 1", "seed 2"]
    assert len({(line.get_linestyle(), str(line._unscaled_dash_pattern)) for line in ax.lines}) == 3
    fig, data = curves(
        [{"title": "mean", "y": "train_loss", "seeds": "mean"}], family="L8", frames={"llm_train": train}
    )
    assert len(fig.get_axes()[0].lines) == 2 and len(data) == 6 * len(STEPS)


def test_non_finite_losses_still_render_and_the_run_is_marked_diverged(tmp_path):
    train = llm_train("L8", wds=(0.0,), lrs=(1e-3,), seeds=(0, 1, 2))
    bad = (train.seed == 0) & (train.step >= 700)
    train.loc[bad, "train_loss"] = [8.0, np.inf, np.nan, np.nan]
    train.loc[train.seed == 0, "diverged"] = True
    fig, data = curves([{"title": "div", "y": "train_loss"}], family="L8", frames={"llm_train": train})
    assert set(data.label) == {"λ = 0 (1/3 diverged)"}
    assert len(data) == 3 * len(STEPS) - 3 and np.isfinite(data.y).all()
    assert np.isfinite(fig.get_axes()[0].get_ylim()).all() and fig.get_axes()[0].get_ylim()[1] >= 8.0
    train.loc[:, "diverged"] = True
    fig, data = curves([{"title": "div", "y": "train_loss"}], family="L8", frames={"llm_train": train})
    assert set(data.label) == {"λ = 0 (diverged)"}
    paths = [tmp_path / n for n in ("f.pdf", "f.png", "f.data.parquet")]
    save(fig, data, *paths)
    assert pq.read_table(paths[2]).num_rows == len(data)


def test_max_and_min_stand_for_the_extremes_of_the_panels_families():
    frame = pd.concat(
        [llm_train("L8", wds=(0.0, 0.1), lrs=(3e-4, 1e-3)), llm_train("L1", lrs=(2e-3,))], ignore_index=True
    )
    _, data = curves([{"title": "max", "y": "train_loss", "lr": ["max"], "wd": ["min"]}], "L8", {"llm_train": frame})
    assert set(data.lr) == {1e-3} and set(data.wd) == {0.0} and data.run_id.nunique() == 1


def test_runs_the_settings_do_not_tell_apart_are_named_by_run_id():
    frame = llm_train("L1", wds=(0.0,))
    other = frame.assign(run_id=frame.run_id + "_owt2", dataset="owt2")  # a setting no label names
    _, data = curves([{"title": "twins", "y": "train_loss"}], "L1", {"llm_train": pd.concat([frame, other])})
    assert set(data.label) == set(data.run_id) and data.run_id.nunique() == 2


def fig7_frame(l9_precisions=("fp32", "bf16")):
    """NeurIPS Fig 7: L1 (cosine, wd 0 / 0.1 / 0.3, bf16) and L9 (wd 0 under the schedule mimicking L1's wd 0.1
    and 0.3, at each of ``l9_precisions``)."""
    mimics = [llm_train("L9", wds=(0.0,), precisions=l9_precisions, schedule="mimic", mimic=m) for m in (0.1, 0.3)]
    return pd.concat([llm_train("L1"), *mimics], ignore_index=True)


def test_mimic_runs_say_what_they_mimic(tmp_path):
    frame = fig7_frame()
    assert frame.run_id.str.contains("_wd0_mimic0.1_fp32_").any() and frame[frame.family == "L1"].mimic.isna().all()
    panels = [
        {"title": "schedules", "family": "L9", "y": "lr_now"},
        {"title": "mimic runs and the runs they mimic", "family": ["L1", "L9"], "y": "train_loss"},
    ]
    fig, data = curves(panels, family=["L1", "L9"], frames={"llm_train": frame})
    l9 = data[data.panel == "schedules"]
    assert not (l9.label == l9.run_id).any()
    assert set(zip(l9.mimic, l9.precision, l9.label, strict=True)) == {
        (0.1, "fp32", "mimics λ = 0.1, fp32"),
        (0.1, "bf16", "mimics λ = 0.1, bf16"),
        (0.3, "fp32", "mimics λ = 0.3, fp32"),
        (0.3, "bf16", "mimics λ = 0.3, bf16"),
    }
    assert legend_labels(fig.get_axes()[1]) == [  # wd varies here; the schedule only among the L1 runs, so unnamed
        "λ = 0, bf16",
        "λ = 0, mimics λ = 0.1, bf16",
        "λ = 0, mimics λ = 0.1, fp32",
        "λ = 0, mimics λ = 0.3, bf16",
        "λ = 0, mimics λ = 0.3, fp32",
        "λ = 0.1, bf16",
        "λ = 0.3, bf16",
    ]
    both = data[data.panel == "mimic runs and the runs they mimic"]
    assert both[both.family == "L1"].mimic.isna().all() and set(both[both.family == "L9"].mimic) == {0.1, 0.3}
    paths = [tmp_path / n for n in ("f.pdf", "f.png", "f.data.parquet")]
    save(fig, data, *paths)
    saved = pq.read_table(paths[2])
    assert saved.schema.field("mimic").type == pa.float64()
    assert saved.column("mimic").null_count == (data.family == "L1").sum()
    # one precision: the mimicked lambda alone; a filter on it; an explicit hue; the final-value plot keeps it too
    _, data = curves([panels[0]], family="L9", frames={"llm_train": fig7_frame(("bf16",))})
    assert set(data.label) == {"mimics λ = 0.1", "mimics λ = 0.3"}
    _, data = curves([panels[1] | {"mimic": [0.3]}], family="L9", frames={"llm_train": frame})
    assert set(data.label) == {"mimics λ = 0.3, fp32", "mimics λ = 0.3, bf16"}
    _, data = curves([panels[0] | {"hue": "mimic"}], family="L9", frames={"llm_train": frame})
    assert set(data.label) == {"mimics λ = 0.1", "mimics λ = 0.3"}
    spec = {"plot": "llm_final", "family": ["L1", "L9"], "panels": [panels[1] | {"x": "wd"}]}
    _, data = render(spec, {"llm_train": frame})
    assert len(data) == 3 + 4 and "mimics λ = 0.3, fp32" in set(data.label) and data.mimic.notna().sum() == 4


def test_empty_selections_and_missing_columns_name_the_panel():
    with pytest.raises(ValueError, match="'nothing here'"):
        curves([{"title": "nothing here", "y": "train_loss", "wd": [0.7]}])
    with pytest.raises(ValueError, match="'no family'"):
        curves([{"title": "no family", "y": "train_loss", "family": "L9"}])
    with pytest.raises(ValueError, match="'bad y'.*'nope'"):
        curves([{"title": "bad y", "y": "nope"}])
    with pytest.raises(ValueError, match="'no table'"):
        curves([{"title": "no table", "y": "train_loss"}], frames={"llm_train": None})


def test_metrics_without_a_loss_keep_automatic_limits_and_panels_wrap():
    fig, data = curves(
        [
            {"title": "eff lr", "y": "eff_lr", "logy": True},
            {"title": "norm", "y": "weight_norm", "ylabel": "norm", "x": "tokens", "ylim": [80, None]},
            {"title": "grads", "y": ["grad_norm", "grad_var"]},
        ],
        columns=2,
    )
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert len(axes) == 3 and axes[1].get_ylabel() == "norm" and axes[1].get_xlabel() == "tokens"
    assert axes[1].get_ylim()[0] == 80
    norm = data[data.panel == "norm"]
    assert norm.x.max() == 1000 * 2048


def test_final_value_against_a_setting(tmp_path):
    train = pd.concat(
        [llm_train("L1", seeds=(0, 1)), llm_train("L4", wds=(0.1, 0.3), seeds=(0, 1), decay_ln=True)],
        ignore_index=True,
    )
    spec = {
        "plot": "llm_final",
        "family": ["L1", "L4"],
        "panels": [
            {"title": "vs λ", "family": ["L1", "L4"], "x": "wd", "y": "train_loss", "logx": True},
            {"title": "L1", "x": "wd", "y": ["train_loss", "val_loss"], "last": 1},
        ],
    }
    fig, data = render(spec, {"llm_train": train, "llm_finetune": None})
    first = data[data.panel == "vs λ"]
    assert len(first) == 3 * 2 + 2 * 2  # one point per run
    assert set(first.label) == {"WD on LayerNorm", "LayerNorm not decayed"}
    row = first[(first.family == "L1") & (first.wd == 0.1) & (first.seed == 1)].iloc[0]
    assert row.y == pytest.approx(np.mean([loss_at(s, 0.1, 6e-4, 1) for s in (800, 900, 1000)]))
    assert row.evals == 3 and row.final_step == 1000 and row.x == 0.1
    assert fig.get_axes()[0].get_xscale() == "symlog"  # lambda = 0 on a log axis
    second = data[data.panel == "L1"]
    assert len(second) == 3 * 2 * 2 and set(second.label) == {""}
    assert np.allclose(second[second.series == "val_loss"].y - second[second.series == "train_loss"].y.values, 0.02)
    paths = [tmp_path / n for n in ("f.pdf", "f.png", "f.data.parquet")]
    save(fig, data, *paths)
    assert all(p.stat().st_size > 1000 for p in paths[:2])
    assert pq.read_table(paths[2]).num_rows == len(data)


def test_final_drops_runs_ending_non_finite_and_crosses_diverged_ones():
    train = llm_train("L8", wds=(0.0, 0.1), lrs=(6e-4, 1e-3), seeds=(0,))
    ended_nan = (train.lr == 1e-3) & (train.wd == 0.0)
    train.loc[ended_nan & (train.step == 1000), "train_loss"] = np.nan
    train.loc[ended_nan, "diverged"] = True
    spec = {"plot": "llm_final", "family": "L8", "panels": [{"title": "vs lr", "x": "lr", "y": "train_loss"}]}
    fig, data = render(spec, {"llm_train": train})
    assert len(data) == 3 and set(data.label) == {"λ = 0 (1/2 diverged)", "λ = 0.1"}  # the dropped run is named
    assert not ((data.lr == 1e-3) & (data.wd == 0.0)).any()
    train.loc[ended_nan, "train_loss"] = 9.0
    fig, data = render(spec, {"llm_train": train})
    assert "λ = 0 (1/2 diverged)" in set(data.label) and data.diverged.sum() == 1
    assert "diverged" in legend_labels(fig.get_axes()[0])
    with pytest.raises(ValueError, match="'vs step'"):
        render(spec | {"panels": [{"title": "vs step", "x": "step", "y": "train_loss"}]}, {"llm_train": train})


def test_number_labels():
    assert [llm._num(v) for v in (0.0, 0.1, 6e-4, 1e-5, 3e-6, 0.3, 1e-3)] == [
        "0",
        "0.1",
        "6e-4",
        "1e-5",
        "3e-6",
        "0.3",
        "1e-3",
    ]
    assert llm._fmt("lr_decay_iters", 55000) == "cosine over 55k"
