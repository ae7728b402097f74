"""The probes' runner: every probe in a child forked from one process that imported the probes' code, a failing
probe reported with its last lines while the others still run."""

import copy

from conftest import ROOT
from wdecay.plan import configcheck
from wdecay.preflight import jobs
from wdecay.preflight.run import run_probes

CPU = dict(
    device="cpu",
    threads=1,
    steps=1,
    vision_batch=2,
    measure_examples=2,
    cpu_probes=[1, 2],
    cuda_probes=[8, 32],
    llm_micro_batch=1,
    llm_context=16,
    llm_layers=1,
)


def test_each_probe_runs_in_its_own_child_and_a_failure_stays_its_own():
    config = configcheck.load_yaml(ROOT / "config.yaml") | {"preset": "tiny"}
    plan = configcheck.make_plan(
        copy.deepcopy(config), configcheck.load_yaml(ROOT / "workflow/schemas/config.schema.yaml")
    )
    probes = jobs.preflight_plan(plan)["probes"]
    measure = next(p for p in probes if p["kind"] == "measure" and p["measure"] == "hessian_trace")
    broken = copy.deepcopy(measure) | {"id": "broken"}
    broken["run"]["model"] = "no_such_model"
    llm = next(p for p in probes if p["kind"] == "llm")

    results = run_probes([broken, measure, llm], CPU)
    assert set(results) == {"broken", measure["id"], llm["id"]}
    assert "no_such_model" in results["broken"]["error"] and results["broken"]["wall_s"] > 0
    assert results[measure["id"]]["seconds"] > 0 and results[measure["id"]]["unit"] == "weight set"
    assert results[llm["id"]]["step_s"] > 0 and results[llm["id"]]["device"] == "cpu"
    for probe_id in (measure["id"], llm["id"]):  # a cold process's peak at least: torch itself is resident
        assert results[probe_id]["host_peak_bytes"] > 100e6 and results[probe_id]["wall_s"] > 0
