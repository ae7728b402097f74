"""Probes: short real jobs through the package's trainers and measures, on synthetic data of the jobs' shapes; the
runner that forks each from one process."""

import copy

import pytest
from conftest import ROOT
from wdecay.plan import configcheck
from wdecay.preflight import jobs, probe
from wdecay.preflight.run import run_probes

SCHEMA = configcheck.load_yaml(ROOT / "workflow/schemas/config.schema.yaml")
CONFIG = configcheck.load_yaml(ROOT / "config.yaml")
CPU = dict(
    device="cpu",
    threads=1,
    steps=1,
    vision_batch=4,
    measure_examples=4,
    cpu_probes=[1, 2],
    cuda_probes=[8, 32],
    llm_micro_batch=2,
    llm_context=32,
    llm_layers=1,
    llm_vocab=None,  # the corpus's
)


def probes_of(preset: str) -> dict:
    plan = configcheck.make_plan(copy.deepcopy(CONFIG) | {"preset": preset}, SCHEMA)
    return {p["label"]: p for p in jobs.preflight_plan(plan)["probes"]}


@pytest.fixture(scope="module")
def tiny():
    return probes_of("tiny")


def pick(probes: dict, start: str) -> dict:
    return next(p for label, p in probes.items() if label.startswith(start))


def test_vision_training_probe(tiny):
    spec = pick(tiny, "preact_resnet18 x0.125 16px/10 cl., batch 64, fp32, 2 EMA")
    got = probe.run_probe(spec, CPU)
    assert got["unit"] == "step" and got["step_s"] > 0 and got["eval_s_per_image"] > 0 and got["save_s"] > 0
    assert got["checkpoint_bytes"] > 2 * got["model_bytes"] > 0  # the iterate, two EMAs and the optimizer state
    assert got["peak_bytes"] > 0 and got["host_peak_bytes"] > 0 and got["row_bytes"] > 0
    assert "batch 4 timed, scaled by images to 64" in got["notes"]
    assert got["device"] == "cpu" and got["device_total_bytes"] > got["peak_bytes"]


def test_fine_tuning_probe(tiny):
    got = probe.run_probe(pick(tiny, "si_preact_resnet18 x0.125 16px/10 cl., batch 64, fp32, sphere (init)"), CPU)
    assert got["step_s"] > 0 and got["model_bytes"] > 0


@pytest.mark.parametrize("measure", ["hessian_trace", "jacobian_norm (exact)", "noise_scale", "ensemble"])
def test_measure_probes(tiny, measure):
    spec = next(p for p in tiny.values() if p["kind"] == "measure" and p["label"].startswith(measure + ","))
    got = probe.run_probe(spec, CPU)
    assert got["unit"] == "weight set" and got["seconds"] > 0 and got["peak_bytes"] > 0
    assert f"4 of {spec['data']['examples']} examples timed, scaled by examples" in got["notes"]


def test_language_model_probe_scales_by_flops(tiny):
    got = probe.run_probe(pick(tiny, "gpt_mini_large ctx 64"), CPU)
    assert got["unit"] == "iteration" and got["step_s"] > 0 and got["eval_s_per_sequence"] > 0
    assert got["checkpoint_bytes"] > 0 and got["peak_bytes"] > 0
    assert "1 of 4 layers, context 32 of 64, micro-batch 2 of 4, 2 of 2 micro-batches timed" in got["notes"][0]


def test_a_smaller_vocabulary_is_scaled_back_to_the_corpus_one(tiny):
    """With llm_vocab, the timed GPT's embedding and output layer shrink too; the saved state, which grows with
    the parameters, comes out at the full vocabulary's size."""
    spec = pick(tiny, "gpt_mini_large ctx 64")
    full, small = probe.run_probe(spec, CPU), probe.run_probe(spec, CPU | {"llm_vocab": 64})
    assert "context 32 of 64, vocabulary 64 of 256, micro-batch 2 of 4" in small["notes"][0]
    assert "vocabulary" not in full["notes"][0]
    assert small["checkpoint_bytes"] == pytest.approx(full["checkpoint_bytes"], rel=0.05)
    assert small["step_s"] > 0 and small["eval_s_per_sequence"] > 0 and small["save_s"] > 0


def test_paper_fp16_is_timed_in_bf16_on_a_cpu():
    spec = pick(probes_of("paper"), "preact_resnet18 32px/10 cl., batch 128, fp16, 1 EMA")
    got = probe.run_probe(spec, CPU | {"vision_batch": 2})
    assert "fp16 timed as bf16 (fp16 autocast on a CPU takes seconds per image)" in got["notes"]
    assert 80e6 < got["checkpoint_bytes"] < 100e6  # a full-width ResNet-18 with its EMA and optimizer state
    # the job holds its 60k CIFAR-10 images on the device: they are in the peak, not the probe's 2 + 2
    assert got["peak_bytes"] > 60_000 * 32 * 32 * 3


def test_each_probe_runs_in_its_own_child_and_a_failure_stays_its_own(tiny):
    measure = next(p for p in tiny.values() if p["kind"] == "measure" and p["measure"] == "hessian_trace")
    broken = copy.deepcopy(measure) | {"id": "broken"}
    broken["run"]["model"] = "no_such_model"
    llm = pick(tiny, "gpt_mini_large ctx 64")
    results = run_probes([broken, measure, llm], CPU)
    assert set(results) == {"broken", measure["id"], llm["id"]}
    assert "no_such_model" in results["broken"]["error"] and results["broken"]["wall_s"] > 0
    assert results[measure["id"]]["seconds"] > 0 and results[llm["id"]]["step_s"] > 0
    for probe_id in (measure["id"], llm["id"]):  # a cold process's peak at least: torch itself is resident
        assert results[probe_id]["host_peak_bytes"] > 100e6 and results[probe_id]["wall_s"] > 0
