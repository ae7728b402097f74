"""The pre-flight through the real workflow on a CPU: every job kind of the paper preset timed (at reduced sizes),
the bill written as parquet and markdown, and its set-resources block accepted by the SLURM profile."""

import copy

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import copy_workflow, snakemake
from wdecay.plan import configcheck
from wdecay.preflight.jobs import preflight_plan

pytestmark = pytest.mark.workflow

# smaller than the CPU defaults, so that the 23 probes of the paper preset take a few minutes on 2 cores
SMALL = {
    "cpu": {
        "steps": 1,
        "vision_batch": 2,
        "measure_examples": 1,
        "llm_micro_batch": 1,
        "llm_context": 32,
        "llm_layers": 1,
        "llm_vocab": 512,  # GPT-2's 50k tokens made the LM probes' saved states 0.7-1.3 GB each
    }
}


def test_preflight_of_the_paper_preset_on_a_cpu(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    (wf / "small.yaml").write_text(yaml.safe_dump({"preflight": SMALL}))
    dry = snakemake(wf, "-n", "preflight", "--config", "preset=paper")
    assert dry.returncode == 0 and "preflight        1" in dry.stdout, dry.stdout + dry.stderr  # needs no data
    # one thread per probe: the other pytest worker shares the 2 cores, and there 2 threads ran 3x slower than alone
    done = snakemake(wf, "preflight", "--cores", "1", "--configfile", "small.yaml", "--config", "preset=paper")
    assert done.returncode == 0, done.stderr[-3000:]

    config = configcheck.load_yaml(wf / "config.yaml") | {"preset": "paper"}
    schema = configcheck.load_yaml(wf / "workflow/schemas/config.schema.yaml")
    plan = preflight_plan(configcheck.make_plan(copy.deepcopy(config), schema))
    rows = pq.read_table(wf / "results/preflight/paper.parquet").to_pylist()
    kinds = {(j["family"], j["rule"], j["kind"]) for j in plan["jobs"]}
    assert {(r["family"], r["rule"], r["kind"]) for r in rows} == kinds
    assert sum(r["jobs"] for r in rows) == 3508
    for r in rows:
        assert r["status"] == "ok" and r["cpu_figures"] and r["device"] == "cpu", r
        assert r["hours_per_job"] > 0 and r["hours_total"] >= r["hours_max"] > 0, r
        assert r["peak_bytes"] > 0 and r["host_peak_bytes"] > 0 and r["disk_bytes_total"] > 0, r
        assert r["runtime_min"] > 0 and r["mem_mb"] > 0, r
    v4 = next(r for r in rows if r["rule"] == "train_V4")  # 50 checkpoints of ~134 MB (iterate, 2 EMAs, optimizer)
    assert 5e9 < v4["disk_bytes_per_job"] < 8e9

    report = (wf / "results/preflight/paper.md").read_text()
    for said in (
        "**CPU figures.**",
        "fp16 timed as bf16",
        "scaled by training FLOPs",
        "vocabulary 512 of 50257",
        "eager (torch.compile",
        "## The ten most expensive jobs",
        "gpt2_774m",
    ):
        assert said in report
    block = report.split("```yaml\n")[1].split("```")[0]
    resources = yaml.safe_load(block)["set-resources"]
    listed = snakemake(wf, "--list-rules", "--config", "preset=paper").stdout.split()
    assert set(resources) == {r["rule"] for r in rows} and set(resources) <= set(listed)

    # the block pasted into the SLURM profile: Snakemake reads it and gives the jobs those resources
    profile = wf / "profiles/slurm/config.yaml"
    profile.write_text(profile.read_text() + "\n" + block)
    planned = snakemake(
        wf, "--profile", "profiles/slurm", "-n", "--config", "preset=paper", "--", "results/figures/iclr_fig01.pdf"
    )
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr[-2000:]
    v1 = resources["train_V1"]
    assert f"runtime={v1['runtime']}, mem_mb={v1['mem_mb']}" in planned.stdout
