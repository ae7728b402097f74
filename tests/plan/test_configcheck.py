import copy

import pytest
import yaml
from conftest import ROOT
from wdecay.plan import configcheck

SCHEMA = configcheck.load_yaml(ROOT / "workflow/schemas/config.schema.yaml")
CONFIG = configcheck.load_yaml(ROOT / "config.yaml")


def check(config):
    return configcheck.make_plan(config, SCHEMA)


def tiny_v1(config):
    return config["presets"]["tiny"]["families"]["V1"]


def test_shipped_config_is_valid_and_defaults_are_filled():
    plan = check(CONFIG)
    assert plan.preset == "tiny"
    assert {"iclr_fig01", "iclr_fig02", "iclr_fig10", "iclr_tab1", "neurips_fig09", "neurips_tab1"} <= set(plan.figures)
    fig08 = plan.figures["iclr_fig08"]["panels"]  # ema[i] resolved to the preset's coefficients
    assert [p["weights"] for p in fig08] == [["ema0.97"], ["ema0.7"], ["iterate"]]
    v1 = plan.spec["families"]["V1"]
    assert v1["momentum"] == 0.0 and v1["wd_params"] == "all" and v1["eval_batch_size"] == 1000
    assert plan.spec["resources"]["report"]["retries"] == 0  # not set in the preset: the schema's default
    for kind in ("train", "measure", "data", "report"):
        assert set(plan.spec["resources"][kind]) == {"threads", "gpu", "mem_mb", "runtime", "retries"}
    assert plan.figures["neurips_fig11"] == plan.figures["iclr_fig01"]
    assert CONFIG["presets"]["tiny"]["families"]["V1"].get("momentum") is None, "the input is not modified"


def fig06_panel(config):
    return config["figures"]["iclr_fig06"]["panels"][0]


def fig06_panels(config, **keys):
    """Set ``keys`` on every panel of ICLR Fig 6."""
    for panel in config["figures"]["iclr_fig06"]["panels"]:
        panel.update(keys)


def mutate(edit):
    config = copy.deepcopy(CONFIG)
    edit(config)
    return config


def set_key(path, value):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


BAD = {
    "typo in a resource": (
        set_key(["presets", "paper", "resources", "train", "gpus"], 1),
        r"presets\.paper\.resources\.train: unknown key 'gpus' \(allowed: .*gpu",
    ),
    "measurement data of an unknown dataset": (
        set_key(["presets", "tiny", "measurement", "data"], {"digits10": "cifar10_5k"}),
        r"presets\.tiny\.measurement\.data\.digits10: 'cifar10_5k' is not a dataset of preset tiny",
    ),
    "measure of a missing EMA": (
        set_key(
            ["presets", "tiny", "families", "V4", "measure"], [{"measure": "hessian_trace", "weights": ["ema0.5"]}]
        ),
        r"presets\.tiny\.families\.V4\.measure\[0\]\.weights: 'ema0.5' is not an EMA of V4",
    ),
    "figure panel of a missing EMA": (
        lambda config: (
            set_key(["presets", "tiny", "families", "V4", "ema"], [0.97])(config)
            or set_key(["presets", "tiny", "families", "V4", "measure"], [])(config)
        ),
        r"figures\.iclr_fig08: panel 'EMA \(fast\)' draws ema\[1\], but V4 has ema \[0.97\]",
    ),
    "unknown job kind": (
        set_key(["presets", "tiny", "resources", "evaluate"], {"gpu": 1}),
        r"presets\.tiny\.resources: unknown key 'evaluate'",
    ),
    "zero runtime": (
        set_key(["presets", "tiny", "resources", "data", "runtime"], 0),
        r"presets\.tiny\.resources\.data\.runtime: 0 is less than the minimum of 1",
    ),
    "fp16 vision family on a cpu preset": (
        set_key(["presets", "paper", "device"], "cpu"),
        r"presets\.paper\.families\.V1\.precision: fp16 on device cpu \(presets\.paper\.device\): fp16 autocast on a "
        r"CPU takes seconds per image, a run would take days; use bf16 or fp32 on a CPU",
    ),
    "fp16 grid group on a cpu preset": (
        lambda config: (
            set_key(["presets", "tiny", "device"], "cpu")(config)
            or set_key(["presets", "tiny", "families", "V1", "grid", 1, "precision"], ["fp32", "fp16"])(config)
        ),
        r"presets\.tiny\.families\.V1\.grid\[1\]\.precision: fp16 on device cpu",
    ),
    "unknown pre-flight key": (
        set_key(["preflight"], {"cpu": {"vision_bach": 4}}),
        r"preflight\.cpu: unknown key 'vision_bach' \(allowed: .*vision_batch",
    ),
    "unknown top-level key": (set_key(["presetz"], "tiny"), r"<top level>: unknown key 'presetz'"),
    "typo in a family key": (
        set_key(["presets", "tiny", "families", "V1", "epoch"], 10),
        r"presets\.tiny\.families\.V1: unknown key 'epoch' \(allowed: .*epochs",
    ),
    "wrong type": (
        set_key(["presets", "tiny", "families", "V1", "epochs"], "ten"),
        r"presets\.tiny\.families\.V1\.epochs: 'ten' is not of type 'integer'",
    ),
    "exponent read as a string": (
        set_key(["presets", "tiny", "families", "V1", "lr_flow"], yaml.safe_load("x: 5e-4")["x"]),
        r"presets\.tiny\.families\.V1\.lr_flow: '5e-4' is a string, not a number .* write 5\.0e-4",
    ),
    "negative learning rate": (
        set_key(["presets", "paper", "families", "V1", "grid", 0, "lr"], [0.1, -0.01]),
        r"presets\.paper\.families\.V1\.grid\[0\]\.lr\[1\]: -0\.01 is less than or equal",
    ),
    "empty grid": (
        set_key(["presets", "tiny", "families", "V1", "grid"], []),
        r"presets\.tiny\.families\.V1\.grid: must not be empty",
    ),
    "empty lr list": (
        set_key(["presets", "tiny", "families", "V1", "grid", 1, "lr"], []),
        r"presets\.tiny\.families\.V1\.grid\[1\]\.lr: must not be empty",
    ),
    "unknown model": (
        set_key(["presets", "tiny", "families", "V1", "grid", 0, "model"], "resnet50"),
        r"presets\.tiny\.families\.V1\.grid\[0\]\.model: 'resnet50' is not one of",
    ),
    "unknown dataset": (
        set_key(["presets", "tiny", "families", "V1", "grid", 2, "dataset"], "cifar11"),
        r"presets\.tiny\.families\.V1\.grid\[2\]\.dataset: 'cifar11' is not a dataset of preset "
        r"tiny \(known: digits10, digits10_32px, digits10_b, digits10_n100, digits10_n300, digits10_sub\)",
    ),
    "unknown preset": (set_key(["preset"], "papr"), r"preset: 'papr' is not a preset \(known: tiny, small, paper\)"),
    "unknown precision": (
        set_key(["presets", "tiny", "families", "V1", "precision"], ["fp8"]),
        r"presets\.tiny\.families\.V1\.precision\[0\]: 'fp8' is not one of",
    ),
    "checkpoint after the end": (
        set_key(["presets", "tiny", "families", "V1", "checkpoints"], [6, 99]),
        r"presets\.tiny\.families\.V1\.checkpoints: epoch 99 is after the last epoch \(12\) of grid\[1\]",
    ),
    "subset of a missing dataset": (
        set_key(["presets", "tiny", "datasets", "digits10_sub", "of"], "digits11"),
        r"presets\.tiny\.datasets\.digits10_sub\.of: 'digits11' is not a dataset",
    ),
    "EMA coefficient of one": (
        set_key(["presets", "tiny", "families", "V1", "ema"], [1.0]),
        r"presets\.tiny\.families\.V1\.ema\[0\]: 1\.0 is greater than or equal",
    ),
    "repeated run": (
        set_key(["presets", "tiny", "families", "V1", "grid", 1, "lr"], [0.3, 0.3]),
        r"presets\.tiny\.families\.V1\.grid\[1\]\.lr: \[0\.3, 0\.3\] has non-unique elements",
    ),
    "two grid groups with the same runs": (
        lambda c: tiny_v1(c)["grid"].append(dict(tiny_v1(c)["grid"][0])),
        r"presets\.tiny\.families\.V1\.grid\[3\] repeats run vgg16_digits10_32px_lr0\.03_wd0_fp32_s0 of grid\[0\]",
    ),
    "digits without sizes": (
        lambda c: c["presets"]["tiny"]["datasets"]["digits10"].pop("train_size"),
        r"presets\.tiny\.datasets\.digits10: 'train_size' is a required property",
    ),
    "decay fraction above one": (
        set_key(["presets", "tiny", "families", "V1", "first_decay"], 1.5),
        r"presets\.tiny\.families\.V1\.first_decay: 1\.5 is greater than the maximum of 1",
    ),
    "figure twin of nothing": (
        set_key(["figures", "neurips_fig11"], {"same_as": "iclr_fig99"}),
        r"figures\.neurips_fig11\.same_as: 'iclr_fig99' is not a figure",
    ),
    "figure of an unknown family": (
        set_key(["figures", "iclr_fig01", "family"], "V9"),
        r"figures\.iclr_fig01\.family: 'V9' is not a family of any preset",
    ),
    "two presets sharing a run folder": (
        lambda c: (
            c["presets"]["small"].update(run_tag="")
            or c["presets"]["small"]["families"]["V1"].update(precision=["fp16"])
        ),
        r"presets\.paper\.families\.V1: run vgg16_c10_lr0\.1_wd0_fp16_s0 also exists in preset small with other "
        r"settings; set presets\.paper\.run_tag",
    ),
    "checkpoints every without last": (
        set_key(["presets", "tiny", "families", "V4", "checkpoints"], {"every": 5}),
        r"presets\.tiny\.families\.V4\.checkpoints: \{'every': 5\} fits neither form; as a mapping with every, "
        r"last \(and optionally first, extra\): 'last' is a required property; or give a list of integers$",
    ),
    "checkpoints every of zero": (
        set_key(["presets", "tiny", "families", "V4", "checkpoints"], {"every": 0, "last": 4}),
        r"checkpoints: .* as a mapping with every, last .*: every: 0 is less than the minimum of 1; or give a list",
    ),
    "negative checkpoint": (
        set_key(["presets", "tiny", "families", "V4", "checkpoints"], [1, -1]),
        r"V4\.checkpoints: \[1, -1\] fits neither form; as a list of integers: \[1\]: -1 is less than the minimum "
        r"of 0; or give a mapping with every, last",
    ),
    "checkpoints of the wrong type": (
        set_key(["presets", "tiny", "families", "V4", "checkpoints"], "5"),
        r"V4\.checkpoints: '5' is neither a list of integers nor a mapping with every, last \(and optionally",
    ),
    "figure of no family": (
        set_key(["figures", "iclr_fig01", "family"], []),
        r"figures\.iclr_fig01\.family: \[\] fits neither form; as a list of strings: must not be empty; or give a "
        r"string",
    ),
    "panel of a column no table has": (
        set_key(["figures", "iclr_fig02", "panels", 0, "y"], "test_error"),
        r"figures\.iclr_fig02\.panels\[0\]\.y \(panel '\(a\) after the fine-tuning phase'\): 'test_error' is not a "
        r"column of the train table; did you mean test_err or test_ce\?",
    ),
    "panel x that its table lacks": (
        set_key(["figures", "iclr_fig02", "panels", 0, "x"], "quantity"),
        r"figures\.iclr_fig02\.panels\[0\]\.x .*: 'quantity' is not a column of the train table",
    ),
    "runs panel of an unknown measure": (
        set_key(["figures", "neurips_fig03", "panels", 1, "y"], "jacobian.norm"),
        r"figures\.neurips_fig03\.panels\[1\]\.y \(panel 'Jacobian norm of the EMA'\): 'jacobian\.norm' is not a run "
        r"setting, a final metric or <measure>\.<quantity>; did you mean jacobian_norm\.norm\?",
    ),
    "runs panel x of nothing": (
        set_key(["figures", "neurips_fig01", "panels", 0, "x"], "examples"),
        r"figures\.neurips_fig01\.panels\[0\]\.x .*: 'examples' is not a run setting, a final metric .*; did you "
        r"mean train_examples\?",
    ),
    "LLM panel of a misspelt loss": (
        set_key(["figures", "iclr_fig04", "panels", 0, "y"], ["train_loss", "val_los"]),
        r"figures\.iclr_fig04\.panels\[0\]\.y .*: 'val_los' is not a column of the llm_train table or gap; did you "
        r"mean val_loss or ema_val_loss\?",
    ),
    "LLM panel coloured by no run setting": (
        set_key(["figures", "iclr_fig04", "panels", 0, "hue"], "weight_norm"),
        r"figures\.iclr_fig04\.panels\[0\]\.hue .*: 'weight_norm' is not a run setting of the llm_train table",
    ),
    "LLM panel styled by no column": (
        set_key(["figures", "iclr_fig04", "panels", 0, "style"], "seeds"),
        r"figures\.iclr_fig04\.panels\[0\]\.style .*: 'seeds' is not a column of the llm_train table; did you mean "
        r"seed\?",
    ),
    "LLM fine-tunings of a quantity they lack": (
        set_key(["figures", "iclr_fig06", "panels", 0, "finetune"], True),
        r"figures\.iclr_fig06\.panels\[0\]\.finetune .*: needs x: step and a y among train_loss, val_loss, gap",
    ),
    "LLM final values against no run setting": (
        lambda c: c["figures"]["iclr_fig06"].update(plot="llm_final") or fig06_panels(c, x="step"),
        r"figures\.iclr_fig06\.panels\[0\]\.x .*: 'step' is not a run setting of the llm_train table",
    ),
    "LLM panel of a misspelt filter": (
        set_key(["figures", "iclr_fig04", "panels", 0, "wdd"], [0.1]),
        r"figures\.iclr_fig04\.panels\[0\] \(panel 'train and validation loss'\): unknown key 'wdd' \(allowed: "
        r"batch_size, context, decay_ln, family, finetune, hue, l2, legend, logx, logy, lr, lr_decay_iters, "
        r"max_iters, mimic, model, optimizer, precision, schedule, seed, seeds, style, title, wd, x, xlabel, y, "
        r"ylabel, ylim, ylim_after\); "
        r"did you mean wd\?$",
    ),
    "LLM final panel with a curves key": (
        lambda c: (
            c["figures"]["iclr_fig06"].update(plot="llm_final")
            or fig06_panels(c, x="wd")
            or fig06_panel(c).update(seeds="mean")
        ),
        r"figures\.iclr_fig06\.panels\[0\] \(panel '.*'\): unknown key 'seeds' \(allowed: .*last.*\); did you "
        r"mean seed\?$",
    ),
    "LLM final panel without x": (
        lambda c: c["figures"]["iclr_fig06"].update(plot="llm_final"),
        r"figures\.iclr_fig06\.panels\[0\]: 'x' is a required property\n  figures\.iclr_fig06\.panels\[1\]: 'x' is",
    ),
    "LLM filter of a mapping": (
        set_key(["figures", "iclr_fig04", "panels", 0, "lr"], {"max": True}),
        r"figures\.iclr_fig04\.panels\[0\]\.lr: \{'max': True\} is neither a list nor a number, a string or null$",
    ),
    "vision panel of a misspelt filter": (
        set_key(["figures", "iclr_fig02", "panels", 0, "wds"], [0.0]),
        r"figures\.iclr_fig02\.panels\[0\] \(panel '\(a\) after the fine-tuning phase'\): unknown key 'wds' "
        r"\(allowed: .*\); did you mean wd\?$",
    ),
    "runs panel of a misspelt filter": (
        set_key(["figures", "neurips_fig03", "panels", 1, "datset"], "c10"),
        r"figures\.neurips_fig03\.panels\[1\] \(panel 'Jacobian norm of the EMA'\): unknown key 'datset' "
        r"\(allowed: .*\); did you mean dataset\?$",
    ),
    "measurement at an epoch that is no checkpoint": (
        set_key(
            ["presets", "tiny", "families", "V4", "measure"],
            [{"measure": "hessian_trace", "weights": ["iterate"], "epochs": [3, 4, 7]}],
        ),
        r"presets\.tiny\.families\.V4\.measure\[0\]\.epochs: epochs 4, 7 of hessian_trace are no checkpoint of the "
        r"runs it selects \(their checkpoints: 1, 3, 5\); measure at those, or add the epochs to the checkpoints of "
        r"V4$",
    ),
    "measurement epochs among many checkpoints": (
        set_key(["presets", "paper", "families", "V4", "measure", 0, "epochs"], {"every": 10, "last": 20}),
        r"presets\.paper\.families\.V4\.measure\[0\]\.epochs: epochs 0, 10, 20 of hessian_trace are no checkpoint .* "
        r"\(their checkpoints: 1, 3, 5, \.\.\., 95, 97, 99 \(50 epochs\)\)",
    ),
    "ensemble with epochs": (
        lambda c: c["presets"]["tiny"]["families"]["N3"]["measure"][2].update(epochs=[8]),
        r"presets\.tiny\.families\.N3\.measure\[2\]\.epochs: an ensemble is measured at its last snapshot; drop "
        r"epochs, set snapshots",
    ),
    "unknown dataset source": (
        set_key(["presets", "tiny", "datasets", "digits10", "source"], "mnist"),
        r"presets\.tiny\.datasets\.digits10\.source: 'mnist' is not one of",
    ),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_malformed_config_names_the_key_and_value(case):
    edit, message = BAD[case]
    with pytest.raises(configcheck.ConfigError, match=message):
        check(mutate(edit))


def test_every_problem_is_reported_at_once():
    config = mutate(set_key(["presets", "tiny", "families", "V1", "epochs"], 0))
    set_key(["presets", "paper", "families", "V1", "seeds"], [])(config)
    with pytest.raises(configcheck.ConfigError) as error:
        check(config)
    lines = str(error.value).splitlines()[1:]
    assert len(lines) == 2 and "epochs: 0 is less than the minimum of 1" in lines[1] + lines[0]


def test_collision_check_ignores_identical_runs():
    config = mutate(lambda c: c["presets"].__setitem__("paper2", copy.deepcopy(c["presets"]["paper"])))
    assert len(check(config).runs["V1"]) == 24  # same run folders with the same meaning are fine


@pytest.mark.parametrize(
    "text,where,problem",
    [
        ("preset: tiny\nfoo: [1, 2\nbar: 3\n", ":3:4: YAML syntax error", "expected ',' or ']', but got ':'"),
        ("presets:\n\ttiny: {}\n", ":2:1: YAML syntax error", "indent with spaces, not tabs"),
        ("preset: tiny\n presets: {}\n", ":2:9: YAML syntax error", "mapping values are not allowed here"),
    ],
)
def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path, text, where, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(configcheck.ConfigError) as error:
        configcheck.load_yaml(path)
    message = str(error.value)
    assert message.startswith(f"{path}{where}") and problem in message
    assert "Fix the file there" in message
