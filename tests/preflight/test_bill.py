"""The bill: hours, memory and disk per job from the probes' unit costs, the SLURM resources and the report."""

import math

import pytest
import yaml
from wdecay.preflight import bill

GIB = 2**30
SETTINGS = {"runtime_safety": 1.5, "memory_safety": 1.25}
CONTEXT = {"preset": "p", "device": "cpu", "device_total_bytes": 16 * GIB}


def vision_job(names, steps=1000, rule="train_V1", probe="train1"):
    work = {"steps": steps, "evals": 3, "eval_images": 100, "checkpoints": 2, "saves": 4, "rows": 6}
    return {"family": "V1", "rule": rule, "kind": "train m", "probe": probe, "work": work, "jobs": names}


RESULTS = {
    "train1": {
        "unit": "step",
        "step_s": 2.0,
        "eval_s_per_image": 0.01,
        "save_s": 0.5,
        "checkpoint_bytes": 90e6,
        "model_bytes": 45e6,
        "row_bytes": 100.0,
        "peak_bytes": 4 * GIB,
        "host_peak_bytes": 3 * GIB,
        "timed": "t",
        "notes": ["batch 8 timed"],
        "wall_s": 1.0,
    },
    "measure2": {
        "unit": "weight set",
        "seconds": 600.0,
        "peak_bytes": GIB,
        "host_peak_bytes": GIB,
        "timed": "m",
        "notes": [],
        "wall_s": 1.0,
    },
    "llm3": {"id": "llm3", "error": "Traceback\ntorch.OutOfMemoryError: CUDA out of memory", "wall_s": 1.0},
}


def test_job_cost_adds_steps_evaluations_and_saves():
    cost = bill.job_cost(vision_job(["a"]), RESULTS)
    assert cost["seconds"] == pytest.approx(1000 * 2.0 + 3 * 100 * 0.01 + 4 * 0.5)
    assert cost["disk"] == pytest.approx(2 * 90e6 + 6 * 100.0)
    assert cost["peak"] == 4 * GIB and cost["host"] == 3 * GIB
    ft = vision_job(["a@1"], rule="finetune") | {"work": vision_job([])["work"] | {"checkpoints": 0}}
    assert bill.job_cost(ft, RESULTS)["disk"] == pytest.approx(45e6 + 600.0)  # the fine-tuned model
    measure = {
        "family": "V1",
        "rule": "measure",
        "kind": "m",
        "probe": None,
        "jobs": ["a@1"],
        "work": {"parts": [{"probe": "measure2", "weights": 3, "rows": 3}], "rows": 3},
    }
    assert bill.job_cost(measure, RESULTS)["seconds"] == 1800.0


def test_rows_resources_and_the_most_expensive_jobs():
    plan = {
        "jobs": [
            vision_job(["a", "b"]),
            vision_job(["c"], steps=3000),
            {
                "family": "L1",
                "rule": "train_L1",
                "kind": "gpt",
                "probe": "llm3",
                "jobs": ["g"],
                "work": {"iters": 10, "evals": 1, "eval_sequences": 4, "checkpoints": 0, "saves": 0, "rows": 1},
            },
        ]
    }
    rows, top, resources = bill.bill(plan, RESULTS, SETTINGS, CONTEXT)
    v1, l1 = rows
    longest = (3000 * 2.0 + 3 + 2) / 3600
    assert v1["jobs"] == 3 and v1["hours_max"] == pytest.approx(longest)
    assert v1["hours_total"] == pytest.approx(2 * (1000 * 2.0 + 5) / 3600 + longest)
    assert v1["headroom_bytes"] == 12 * GIB and v1["status"] == "ok"
    # runtime: the longest job x 1.5, up to 10 minutes; mem_mb: 3 GiB x 1.25 = 3840 MiB, up to 1000
    assert resources == {"train_V1": {"runtime": math.ceil(longest * 60 * 1.5 / 10) * 10, "mem_mb": 4000}}
    assert v1["runtime_min"] == resources["train_V1"]["runtime"] and l1["runtime_min"] is None
    assert l1["status"] == "failed: torch.OutOfMemoryError: CUDA out of memory" and math.isnan(l1["hours_total"])
    assert [t["job"] for t in top] == ["c", "b", "a"]


def test_markdown_holds_the_table_and_a_set_resources_block_that_parses():
    plan = {"jobs": [vision_job(["a"])]}
    rows, top, resources = bill.bill(plan, RESULTS, SETTINGS, CONTEXT)
    probes = [{"id": "train1", "label": "model m"}]
    text = bill.markdown(rows, top, resources, ["# Pre-flight", "**CPU figures.**"], probes, RESULTS)
    assert "| V1 | train_V1 | train m | 1 |" in text and "**CPU figures.**" in text
    block = text.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(block) == {"set-resources": resources}
    assert "- train1 (model m): t (1 s)" in text and "- batch 8 timed" in text
    assert bill.size_text(90e6) == "90 MB" and bill.size_text(-2.5e9) == "-2.5 GB"
