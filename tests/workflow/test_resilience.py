"""Kills through the real workflow: a training job (or the whole Snakemake) is killed with SIGKILL or stopped with
SIGTERM at several points, the workflow is rerun, and its results equal those of an uninterrupted run, bit for bit."""

import os
import re
import signal
import subprocess
import time

import psutil
import pyarrow.parquet as pq
import pytest
import torch
from conftest import ROOT, SNAKEMAKE, copy_workflow, digits_preset, snakemake, use_preset, wait_for

pytestmark = pytest.mark.workflow

TABLE = "results/tables/vision_train/V1.parquet"
KILLED = "resnet18_digits_lr0.3_wd0.0125_fp32_s0"
KILLED_METRICS = f"results/V1/{KILLED}/train/metrics.parquet"
OTHER_METRICS = "results/V1/resnet18_digits_lr0.03_wd0.0125_fp32_s0/train/metrics.parquet"


def preset(retries: int = 0) -> dict:
    grid = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.3, 0.03], "wd": [0.0125]}]
    # 4 epochs of ~0.5-1 s, a resumable state after each: kills 0.2-0.5 s after the first state land mid-run
    return digits_preset(grid=grid, epochs=4, retries=retries, checkpoints=[2, 4], resume_every=1, eval_every=2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its table and final checkpoint."""
    workflow = copy_workflow(tmp_path_factory.mktemp("reference"))
    config = use_preset(workflow, "resilience", preset())
    result = snakemake(workflow, TABLE, "--cores", "1", "--configfile", config)
    assert result.returncode == 0, result.stderr[-3000:]
    return pq.read_table(workflow / TABLE).to_pylist(), final_checkpoint(workflow)


def final_checkpoint(workflow):
    return torch.load(workflow / f"results/V1/{KILLED}/ckpt/epoch4.pt", weights_only=True)


def training_process(snakemake_process: subprocess.Popen, log, timeout: float = 120) -> psutil.Process:
    """The process that trains the run whose log is ``log``: the job's own process, or under a warm start its child
    of the warm-start server (wdecay.io.warmstart), which is what holds the memory and would be killed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(snakemake_process.pid).children(recursive=True):
            try:
                if str(log) in {f.path for f in child.open_files()}:
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.05)
    raise TimeoutError("no training process appeared")


def start(workflow, config) -> subprocess.Popen:
    """The sweep (two runs, one at a time), not stopping at a failed job."""
    return subprocess.Popen(
        [SNAKEMAKE, TABLE, "--cores", "1", "--keep-going", "--configfile", config],
        cwd=workflow,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a job on a node
    )


# (what is killed, signal, when: before any saved state, or this long after the first one appeared)
CASES = {
    "sigkill-job-before-any-state": ("job", signal.SIGKILL, None),
    "sigkill-job-after-a-state": ("job", signal.SIGKILL, 0.3),
    "sigterm-job-mid-epoch": ("job", signal.SIGTERM, 0.5),
    "sigkill-everything-after-a-state": ("group", signal.SIGKILL, 0.2),
}


@pytest.mark.parametrize("case", CASES)
def test_killed_runs_resume_to_the_same_numbers(tmp_path, reference, case):
    target, signum, delay = CASES[case]
    workflow = copy_workflow(tmp_path)
    config = use_preset(workflow, "resilience", preset())
    state = workflow / f"results/V1/{KILLED}/train/.partial/state.pt"
    log = workflow / f"results/logs/V1/{KILLED}/train.log"

    first = start(workflow, config)
    job = training_process(first, log)
    if delay is not None:  # else kill at once: the job has just opened its log
        wait_for(state)
        time.sleep(delay)
    assert job.is_running(), "the job ended before it could be killed: make the test runs longer"
    if target == "job":
        job.send_signal(signum)
    else:  # the node is lost: Snakemake and its jobs die at once
        os.killpg(first.pid, signum)
    output, _ = first.communicate(timeout=300)
    assert first.returncode != 0, output[-3000:]
    assert not (workflow / KILLED_METRICS).exists() and not (workflow / TABLE).exists(), "no partial output"
    if target == "job":
        assert (workflow / OTHER_METRICS).exists(), "--keep-going: the rest of the sweep finished"
    assert state.exists() == (delay is not None)
    if signum == signal.SIGTERM:
        assert "stopped by SIGTERM" in log.read_text() and "Error in rule train_V1" in output
        assert str(log.relative_to(workflow)) in output, "the error names the job's log"
    if target == "group":
        unlock = snakemake(workflow, "--unlock", "--configfile", config)
        assert unlock.returncode == 0, unlock.stderr[-2000:]

    rerun = snakemake(workflow, TABLE, "--cores", "1", "--configfile", config)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    if target == "job":
        assert re.search(r"^train_V1\s+1$", rerun.stderr, re.M), "the rerun trains only the killed run"
    assert ("resumed after" in log.read_text()) == (delay is not None)
    rows, checkpoint = reference
    assert pq.read_table(workflow / TABLE).to_pylist() == rows
    final = final_checkpoint(workflow)
    assert final["rows"] == checkpoint["rows"]
    assert all(torch.equal(final["model"][k], checkpoint["model"][k]) for k in checkpoint["model"])
    assert not state.parent.exists()


def test_a_stopped_job_is_retried_and_resumes_in_the_same_invocation(tmp_path, reference):
    """With ``retries`` (as at a SLURM time limit), Snakemake reruns the stopped job, which resumes."""
    workflow = copy_workflow(tmp_path)
    config = use_preset(workflow, "resilience", preset(retries=1))
    state = workflow / f"results/V1/{KILLED}/train/.partial/state.pt"
    process = start(workflow, config)
    job = training_process(process, workflow / f"results/logs/V1/{KILLED}/train.log")
    wait_for(state)
    job.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    log = (workflow / f"results/logs/V1/{KILLED}/train.log").read_text()
    assert "resumed after" in log and "Trying to restart job" in output
    assert pq.read_table(workflow / TABLE).to_pylist() == reference[0]


def test_a_killed_snakemake_leaves_a_lock_that_the_documented_command_removes(tmp_path):
    """Snakemake and its jobs SIGKILLed at once (the login node rebooted): the rerun refuses with Snakemake's
    message, which names --unlock; the README's command removes the lock and the rerun finishes the sweep."""
    workflow = copy_workflow(tmp_path)
    grid = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.3], "wd": [0.0125]}]  # the KILLED run only
    config = use_preset(workflow, "resilience", digits_preset(grid=grid, epochs=2, checkpoints=[2]))
    first = start(workflow, config)
    training_process(first, workflow / f"results/logs/V1/{KILLED}/train.log")
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)

    refused = snakemake(workflow, TABLE, "--cores", "1", "--configfile", config)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "LockException" in said
    assert "Error: Directory cannot be locked." in said and "It can be removed with the --unlock argument." in said
    planned = snakemake(workflow, TABLE, "-n", "--configfile", config)  # a dry run only warns
    assert planned.returncode == 0 and "Directory cannot be locked" in planned.stdout + planned.stderr

    readme = (ROOT / "README.md").read_text()
    failing = readme[readme.index("**When something fails.**") :].split("\n\n")[0]
    command = re.search(r"run `(snakemake --unlock)`", failing)
    assert command, "README, When something fails: the command that removes a stale lock"
    unlock = snakemake(workflow, *command.group(1).split()[1:])
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = snakemake(workflow, TABLE, "--cores", "1", "--configfile", config)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows = pq.read_table(workflow / TABLE).to_pylist()
    assert {(r["run_id"], r["epoch"]) for r in rows if r["weights"] == "iterate"} >= {(KILLED, 2)}
