"""The pre-flight's plan: every model job of a preset with its kind and work, torch-free."""

import copy
import subprocess
import sys

import pytest
from conftest import ROOT
from wdecay.plan import configcheck
from wdecay.preflight import jobs

SCHEMA = configcheck.load_yaml(ROOT / "workflow/schemas/config.schema.yaml")
CONFIG = configcheck.load_yaml(ROOT / "config.yaml")


def plan_of(preset: str):
    return configcheck.make_plan(copy.deepcopy(CONFIG) | {"preset": preset}, SCHEMA)


@pytest.fixture(scope="module")
def paper():
    plan = plan_of("paper")
    return plan, jobs.preflight_plan(plan)


def test_every_model_job_of_the_paper_preset_is_billed_once(paper):
    plan, pre = paper
    names = [(j["family"], j["rule"], name) for j in pre["jobs"] for name in j["jobs"]]
    assert len(names) == len(set(names))
    trains = sum(len(runs) for runs in plan.runs.values())
    assert len(names) == trains + len(plan.finetunes) + len(plan.llm_finetunes) + len(plan.measures) == 3508
    assert {f for f, _, _ in names} == set(plan.runs)


def test_probes_cover_every_job_kind_of_the_paper_preset(paper):
    _, pre = paper
    labels = {p["kind"]: [] for p in pre["probes"]}
    for p in pre["probes"]:
        labels[p["kind"]].append(p["label"])
    text = " | ".join(label for group in labels.values() for label in group)
    for model in (
        "vgg16 32px/10",
        "preact_resnet18 32px/10",
        "preact_resnet34 32px/100",
        "si_preact_resnet18",
        "preact_resnet18 64px/200",
    ):
        assert model in text
    assert "sphere (epoch)" in text and "sphere (init)" in text and "2 EMA" in text
    assert all("fp16" in label for label in labels["train"] + labels["finetune"])
    measures = {label.split(",")[0] for label in labels["measure"]}
    assert measures == {
        "hessian_trace",
        "hessian_noise",
        "jacobian_norm (exact)",
        "jacobian_norm (projected)",
        "noise_scale",
        "ensemble",
    }
    llms = labels["llm"]
    assert any("gpt2_774m ctx 256" in x for x in llms) and any("ctx 1024" in x and "tf32" in x for x in llms)
    assert any("sgdm" in x for x in llms) and all("compiled" in x and "micro-batches of 32" in x for x in llms)
    used = {j["probe"] for j in pre["jobs"] if j["probe"]} | {
        p["probe"] for j in pre["jobs"] if j["rule"] == "measure" for p in j["work"]["parts"]
    }
    assert used == {p["id"] for p in pre["probes"]}


def test_work_of_paper_jobs(paper):
    _, pre = paper

    def work(family, rule, name):
        return next(j["work"] for j in pre["jobs"] if j["family"] == family and j["rule"] == rule and name in j["jobs"])

    v1 = work("V1", "train_V1", "resnet18_c10_lr0.08_wd0.0125_fp16_s0")
    assert v1["steps"] == 1000 * (50_000 // 128) and v1["evals"] == 1001 and v1["checkpoints"] == 2
    # iterate and EMA on 50k + 10k images, the EMA's BatchNorm pass over 390 full batches
    assert v1["eval_images"] == 2 * 60_000 + 390 * 128 and v1["rows"] == 2002
    assert v1["saves"] == 2 + 99  # its checkpoints and a resumable state every 10 epochs
    assert work("N1", "train_N1", "resnet18_cifar5m_lr0.08_wd0_fp16_s0")["steps"] == 15_600
    big = work("N1", "train_N1", "resnet18_cifar5m_lr0.08_wd0.0125_fp16_s2")
    assert big["data_bytes"] == 5_050_000 * 32 * 32 * 3
    assert work("V4", "train_V4", "resnet18_c10_lr0.1_wd0.015_fp16_s0")["checkpoints"] == 50
    ft = work("V4", "finetune", "resnet18_c10_lr0.1_wd0.015_fp16_s0@1")
    assert ft["steps"] == 100 * 390 and ft["evals"] == 2
    l1 = work("L1", "train_L1", "gpt2_124m_owt256_lr0.0006_wd0.1_bf16_s0")
    assert l1["iters"] == 50_000 and l1["evals"] == 101 and l1["checkpoints"] == 5 and l1["eval_sequences"] == 20_000
    measure = work("V4", "measure", "resnet18_c10_lr0.1_wd0.015_fp16_s0@1")
    assert [p["weights"] for p in measure["parts"]] == [4, 2]  # trace of 4 weight sets, Jacobian of 2


def test_training_rules_follow_train_smk(paper):
    plan, _ = paper
    rules = jobs.training_rules("V2", plan.runs["V2"])
    assert set(rules.values()) == {"train_V2", "train_V2_2"}
    assert rules["si_preact_resnet18_c10_lr0.0001_wd0_fp16_s0"] == "train_V2"
    assert rules["si_preact_resnet18_c10_lr0.001_wd0_fp16_s0"] == "train_V2_2"


def test_dataset_shapes_from_the_spec():
    datasets = plan_of("paper").spec["datasets"]
    assert jobs.dataset_shape(datasets, "tiny_imagenet_5k") == {
        "train": 5000,
        "test": 10_000,
        "side": 64,
        "classes": 200,
    }
    assert jobs.dataset_shape(datasets, "cifar5m_10k")["train"] == 10_000
    assert jobs.dataset_shape(datasets, "cifar100")["classes"] == 100
    tiny = plan_of("tiny").spec["datasets"]
    assert jobs.dataset_shape(tiny, "digits10")["side"] == tiny["digits10"]["size"]


def test_the_preflight_plan_imports_no_torch():
    code = "import sys, wdecay.preflight.jobs; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "workflow/scripts", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
