import pytest
from conftest import ROOT
from wdecay.plan import configcheck, protocol, sweep

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
        "steps": None,
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
        "sphere": False,
        "init": "pytorch",
        "vgg_input": "twice",
        "si_arch": "authors",
        "projection": "epoch",
        "measure": [],
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


def test_checkpoint_epochs_from_a_list_or_a_range():
    assert sweep.checkpoint_epochs([20, 10]) == (10, 20)
    assert sweep.checkpoint_epochs({"every": 2, "last": 6}) == (0, 2, 4, 6)
    assert sweep.checkpoint_epochs({"every": 3, "first": 1, "last": 9, "extra": [2, 4]}) == (1, 2, 4, 7)


def test_groups_may_keep_their_own_checkpoints():
    grid = [
        {"model": "vgg16", "dataset": "d", "lr": [0.1], "wd": [0.0]},
        {"model": "vgg16", "dataset": "d", "lr": [0.2], "wd": [0.0], "checkpoints": {"every": 1, "last": 2}},
    ]
    runs = sweep.expand_family("p", one_family(grid, checkpoints=[2]), "F")
    assert [r.checkpoints for r in runs] == [(2,), (0, 1, 2)]


def test_measure_entries_make_one_job_per_checkpoint_and_merge_weight_sets():
    grid = [{"model": "vgg16", "dataset": "d", "lr": [0.1, 0.2], "wd": [0.0]}]
    measure = [
        {"measure": "hessian_trace", "weights": ["finetuned", "iterate"]},
        {"measure": "hessian_trace", "weights": ["ema0.9"], "lr": [0.2], "epochs": [2]},
        {"measure": "jacobian_norm", "weights": ["iterate"], "epochs": [1]},
    ]
    family = one_family(grid, checkpoints=[1, 2], ema=[0.9], measure=measure, finetune={"epochs": 1, "lr": 1e-3})
    runs = sweep.expand_family("p", family, "F")
    jobs = sweep.measure_jobs("F", family["families"]["F"], runs)
    by_key = {(j.run_id.split("_")[2], j.epoch): j.measures for j in jobs}
    trace, both = ("hessian_trace", ("finetuned", "iterate")), ("jacobian_norm", ("iterate",))
    assert by_key == {
        ("lr0.1", 1): (trace, both),
        ("lr0.1", 2): (trace,),
        ("lr0.2", 1): (trace, both),
        ("lr0.2", 2): (("hessian_trace", ("finetuned", "iterate", "ema0.9")),),
    }
    assert jobs[0].path == "results/F/vgg16_d_lr0.1_wd0_fp32_s0/measure/epoch1.parquet"
    assert jobs[3].weights == ("finetuned", "iterate", "ema0.9")
    assert len(sweep.finetune_jobs(jobs)) == 4


@pytest.mark.parametrize(
    "entry,message",
    [
        (
            {"measure": "hessian_trace", "weights": ["iterate"], "lr": [0.5]},
            r"measure\[0\]: no run of F has {'lr': \[0.5\]}",
        ),
        ({"measure": "hessian_trace", "weights": ["ema0.5"]}, r"measure\[0\]\.weights: 'ema0.5' is not an EMA"),
        ({"measure": "hessian_trace", "weights": ["finetuned"]}, r"'finetuned' needs families\.F\.finetune"),
        ({"measure": "hessian_trace", "weights": ["iterate"], "epochs": [7]}, r"measure\[0\]\.epochs: none of \[7\]"),
    ],
)
def test_bad_measure_entries_name_the_entry(entry, message):
    grid = [{"model": "vgg16", "dataset": "d", "lr": [0.1], "wd": [0.0]}]
    family = one_family(grid, checkpoints=[1], ema=[0.9], measure=[entry])
    runs = sweep.expand_family("p", family, "F")
    with pytest.raises(sweep.SweepError, match=message):
        sweep.measure_jobs("F", family["families"]["F"], runs)


def test_groups_may_set_their_own_epochs_and_checkpoints():
    grid = [
        {"model": "vgg16", "dataset": "small", "lr": [0.1], "wd": [0.0], "epochs": 20, "checkpoints": [10, 20]},
        {"model": "vgg16", "dataset": "large", "lr": [0.1], "wd": [0.0]},
    ]
    runs = sweep.expand_family("p", one_family(grid, epochs=2, checkpoints=[2]), "F")
    assert [(r.epochs, r.checkpoints) for r in runs] == [(20, (10, 20)), (2, (2,))]


def test_measure_entries_filter_by_weight_decay():
    grid = [{"model": "vgg16", "dataset": "d", "lr": [0.1], "wd": [0.0, 0.0125]}]
    measure = [{"measure": "jacobian_norm", "weights": ["iterate"], "wd": [0.0125]}]
    family = one_family(grid, checkpoints=[1], measure=measure)
    jobs = sweep.measure_jobs("F", family["families"]["F"], sweep.expand_family("p", family, "F"))
    assert [j.run_id for j in jobs] == ["vgg16_d_lr0.1_wd0.0125_fp32_s0"]


def test_an_ensemble_is_one_job_per_run_at_its_last_snapshot():
    grid = [{"model": "vgg16", "dataset": "d", "lr": [0.1, 0.2], "wd": [0.0]}]
    measure = [{"measure": "ensemble", "weights": ["ema0.9"], "snapshots": {"every": 1, "first": 2, "last": 4}}]
    family = one_family(grid, epochs=4, checkpoints=[1, 2, 3, 4], ema=[0.9], measure=measure)
    jobs = sweep.measure_jobs("F", family["families"]["F"], sweep.expand_family("p", family, "F"))
    assert [(j.epoch, j.measures, j.snapshots) for j in jobs] == [(4, (("ensemble", ("ema0.9",)),), (2, 3, 4))] * 2
    assert jobs[0].path.endswith("/measure/epoch4.parquet")
    family["families"]["F"]["checkpoints"] = [4]
    with pytest.raises(sweep.SweepError, match=r"measure\[0\]\.snapshots: \[2, 3\] are not checkpoints"):
        sweep.measure_jobs("F", family["families"]["F"], sweep.expand_family("p", family, "F"))


@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_both_protocols_plan_the_same_runs_and_ids_differ_only_where_settings_do(preset):
    config = configcheck.load_yaml(ROOT / "config.yaml") | {"preset": preset}
    as_run = configcheck.make_plan(config, SCHEMA)
    written = configcheck.make_plan(config | {"protocol": "as_written"}, SCHEMA)
    assert as_run.protocol == "as_run" and written.protocol == "as_written"
    keys = [*protocol.VISION_VARIANTS, *protocol.LLM_VARIANTS]
    differing = 0
    for family, runs in as_run.runs.items():
        pairs = list(zip(runs.values(), written.runs[family].values(), strict=True))
        for a, w in pairs:
            a_set, w_set = a.params(), w.params()
            same = {k: v for k, v in a_set.items() if k not in (*keys, "run_id", "variant", "checkpoints")}
            assert same == {k: w_set[k] for k in same}, (family, a.run_id)
            changed = [k for k in keys if a_set.get(k) != w_set.get(k)]
            assert (a.run_id != w.run_id) == bool(changed), (a.run_id, w.run_id)
            assert a.variant == "" and (w.variant != "") == bool(changed)
            assert (
                w.run_id.replace(f"_{w.variant}", "") if changed else w.run_id
            ) == a.run_id  # as-run id + what differs
            differing += bool(changed)
    assert differing == sum(len(r) for f, r in as_run.runs.items() if not as_run.is_llm(f)) + len(
        [r for r in as_run.runs["L5"].values() if r.l2]
    )  # every vision run (the initialisation) and the l2 runs of L5
    assert len(as_run.finetunes) == len(written.finetunes)


def test_a_setting_may_be_given_per_protocol_and_a_bad_protocol_is_named():
    config = configcheck.load_yaml(ROOT / "config.yaml")
    v1 = config["presets"]["tiny"]["families"]["V1"]
    for group in v1["grid"]:  # the family's settings for every group
        for key in ("epochs", "checkpoints"):
            group.pop(key, None)
    v1["epochs"] = {"as_run": 20, "as_written": 10}
    v1["checkpoints"] = {"as_run": [10, 20], "as_written": [10]}
    assert {r.epochs for r in configcheck.make_plan(config, SCHEMA).runs["V1"].values()} == {20}
    written = configcheck.make_plan(config | {"protocol": "as_written"}, SCHEMA)
    assert {r.epochs for r in written.runs["V1"].values()} == {10}
    with pytest.raises(configcheck.ConfigError, match="protocol: 'as_published' is not one of as_run, as_written"):
        configcheck.make_plan(config | {"protocol": "as_published"}, SCHEMA)
