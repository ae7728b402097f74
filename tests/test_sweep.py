import pytest
from conftest import ROOT
from wdecay import configcheck, sweep

SCHEMA = configcheck.load_yaml(ROOT / "workflow/schemas/config.schema.yaml")


def plan(preset):
    config = configcheck.load_yaml(ROOT / "config.yaml")
    return configcheck.make_plan(config | {"preset": preset}, SCHEMA)


@pytest.mark.parametrize(
    "value,text",
    [
        (0.1, "0.1"),
        (0.0125, "0.0125"),
        (1e-5, "1e-5"),
        (0.0, "0"),
        (1.0, "1"),
        (2.5e-4, "0.00025"),
        (1.5e-10, "1.5e-10"),
        (3, "3"),
    ],
)
def test_number_format(value, text):
    assert sweep.fmt_number(value) == text


def test_run_id_is_readable():
    assert sweep.run_id("preact_resnet18", "cifar10", 0.08, 0.0125, "fp16", 0) == "resnet18_c10_lr0.08_wd0.0125_fp16_s0"
    assert (
        sweep.run_id("vgg16", "digits10", 0.1, 0.0, "fp32", 3, momentum=0.9, tag="small")
        == "vgg16_digits10_lr0.1_wd0_m0.9_fp32_s3_small"
    )


def test_paper_v1_is_12_configs_times_5_seeds():
    runs = plan("paper").runs["V1"]
    assert len(runs) == 60
    configs = {(r.model, r.dataset, r.lr, r.wd) for r in runs.values()}
    assert len(configs) == 12
    assert {r.seed for r in runs.values()} == {0, 1, 2, 3, 4}
    r = runs["resnet34_c100_lr0.15_wd0.01_fp16_s4"]
    assert (r.epochs, r.first_decay, r.lr_flow, r.batch_size, r.momentum) == (1000, 0.5, 1e-4, 128, 0.0)
    assert (r.checkpoints, r.ema, r.wd_params, r.width) == ((500, 1000), (0.999,), "all", 1.0)


def test_tiny_v1_has_the_same_shape_with_two_seeds():
    tiny, paper = plan("tiny").runs["V1"], plan("paper").runs["V1"]
    assert len(tiny) == 24

    def shape(runs):
        """(model, number of learning rates) of the seed-0 runs."""
        return sorted(
            (r.model, len({x.lr for x in runs.values() if x.model == r.model})) for r in runs.values() if r.seed == 0
        )

    assert shape(tiny) == shape(paper)


def test_run_ids_are_unique_across_presets_and_name_every_axis():
    seen = {}
    for preset in ("tiny", "small", "paper"):
        for rid, run in plan(preset).runs["V1"].items():
            key = (run.model, run.dataset, run.lr, run.wd, run.precision, run.seed, run.epochs, run.width)
            assert seen.setdefault(rid, key) == key


def one_family(grid, **settings):
    """A preset with one family F, every setting filled in as the schema's defaults would."""
    family = {
        "seeds": [0],
        "epochs": 2,
        "first_decay": 0.5,
        "lr_flow": 1e-4,
        "momentum": 0.0,
        "batch_size": 8,
        "eval_batch_size": 8,
        "precision": ["fp32"],
        "ema": [],
        "wd_params": "all",
        "width": 1.0,
        "checkpoints": [],
        "eval_every": 1,
        "resume_every": 1,
        "grid": grid,
    }
    return {"run_tag": "", "device": "cpu", "families": {"F": family | settings}}


def test_expansion_order_and_precision_axis():
    grid = [{"model": "vgg16", "dataset": "d", "lr": [0.1, 0.01], "wd": [0.0]}]
    runs = sweep.expand_family("p", one_family(grid, seeds=[0, 1], precision=["fp32", "bf16"]), "F")
    assert [r.run_id for r in runs][:3] == [
        "vgg16_d_lr0.1_wd0_fp32_s0",
        "vgg16_d_lr0.1_wd0_fp32_s1",
        "vgg16_d_lr0.1_wd0_bf16_s0",
    ]
    assert len(runs) == 8


def test_duplicate_runs_are_refused():
    group = {"model": "vgg16", "dataset": "d", "lr": [0.1], "wd": [0.0]}
    with pytest.raises(sweep.SweepError, match=r"grid\[1\] repeats run vgg16_d_lr0.1_wd0_fp32_s0 of grid\[0\]"):
        sweep.expand_family("p", one_family([group, dict(group)]), "F")
