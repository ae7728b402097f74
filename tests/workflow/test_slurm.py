"""The workflow through a real SLURM: a single-node cluster with accounting (munge, MariaDB, slurmdbd, slurmctld,
slurmd; see slurm_cluster.py) runs one figure of a small digits preset through `--profile profiles/slurm`. Every
job must go through sbatch and end COMPLETED in sacct, and the outputs must equal those of a local run.

Needs SLURM's Debian packages (`bash .ci/install-slurm`); without them the test is skipped, unless
WDECAY_REQUIRE_SLURM=1 (as in CI) makes that an error."""

import os
import re
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, copy_workflow, digits_preset, snakemake, use_preset, wait_for
from slurm_cluster import SlurmCluster, slurm_available

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

FIGURE = "results/figures/iclr_fig01.pdf"
PREEMPTED = "resnet18_digits_lr0.3_wd0.0125_fp32_s0"
PREEMPTED_METRICS = f"results/V1/{PREEMPTED}/train/metrics.parquet"
GRID = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.3, 0.03], "wd": [0.0, 0.0125]}]
SUBMITTED_JOBS = 1 + 4  # prepare_dataset and the training runs; tables and figures are local rules


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not slurm_available():
        if os.environ.get("WDECAY_REQUIRE_SLURM") == "1":
            pytest.fail("SLURM is not installed: run `bash .ci/install-slurm`")
        pytest.skip("SLURM is not installed (bash .ci/install-slurm installs it)")
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running


def slurm_profile(workflow, cluster) -> str:
    """The repository's SLURM profile with this cluster's account and partition, and a short first status check."""
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"] = {"slurm_account": cluster.account, "slurm_partition": cluster.partition}
    profile["slurm-init-seconds-before-status-checks"] = 1
    folder = workflow / "profiles" / "slurm-test"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return str(folder)


def run_guarded(args, cwd, env, timeout: float, meanwhile=None) -> subprocess.CompletedProcess:
    """Run Snakemake (and ``meanwhile()`` while it runs); past ``timeout``, stop it with SIGINT (on which it cancels
    its SLURM jobs) and fail."""
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if meanwhile:
            meanwhile()
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"Snakemake on SLURM did not finish in {timeout} s:\n{output[-5000:]}")
    return subprocess.CompletedProcess(args, process.returncode, output, "")


def test_one_figure_through_slurm_equals_a_local_run(cluster, tmp_path):
    preset = digits_preset(grid=GRID, epochs=3)
    on_slurm = copy_workflow(tmp_path / "slurm")
    config = use_preset(on_slurm, "slurmtest", preset)
    profile = slurm_profile(on_slurm, cluster)
    started = time.monotonic()
    result = run_guarded(
        [SNAKEMAKE, FIGURE, "--profile", profile, "--configfile", config],
        cwd=on_slurm,
        env=os.environ | cluster.env,
        timeout=600,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-5000:]

    jobs = cluster.sacct_jobs()
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", result.stdout))
    assert submitted == {j["JobID"] for j in jobs} and len(jobs) == SUBMITTED_JOBS, (jobs, result.stdout[-3000:])
    assert all(j["State"] == "COMPLETED" and j["ExitCode"] == "0:0" for j in jobs), jobs
    print(f"SLURM run: {len(jobs)} jobs COMPLETED in sacct, {seconds:.0f} s")

    local = copy_workflow(tmp_path / "local")
    use_preset(local, "slurmtest", preset)
    local_result = snakemake(local, FIGURE, "--cores", "2", "--configfile", config)
    assert local_result.returncode == 0, local_result.stderr[-3000:]
    for path in ("results/figures/iclr_fig01.data.parquet", "results/tables/vision_train/V1.parquet"):
        assert pq.read_table(on_slurm / path).to_pylist() == pq.read_table(local / path).to_pylist(), path


def test_a_preempted_training_job_is_requeued_and_resumes(cluster, tmp_path):
    """`scontrol requeue` does what a preemption with PreemptMode=REQUEUE does: SIGTERM to the job, then SIGKILL,
    then the job runs again. Training saves its state on SIGTERM, the requeued job resumes from it, and the numbers
    equal those of an uninterrupted local run."""
    grid = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.3], "wd": [0.0125]}]
    preset = digits_preset(grid=grid, epochs=10, resume_every=2, eval_every=2)
    on_slurm = copy_workflow(tmp_path / "slurm")
    config = use_preset(on_slurm, "slurmtest", preset)
    profile = slurm_profile(on_slurm, cluster)
    state = on_slurm / f"results/V1/{PREEMPTED}/train/.partial/state.pt"
    env = os.environ | cluster.env

    def requeue_once_state_is_saved():
        wait_for(state, timeout=300)
        running = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i %k"], env=env, capture_output=True, text=True)
        job = next(line.split()[0] for line in running.stdout.splitlines() if "train_V1" in line)
        subprocess.run(["scontrol", "requeue", job], env=env, check=True)
        requeued.append(job)

    requeued = []
    result = run_guarded(
        [SNAKEMAKE, PREEMPTED_METRICS, "--profile", profile, "--configfile", config],
        cwd=on_slurm,
        env=env,
        timeout=600,
        meanwhile=requeue_once_state_is_saved,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    history = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-D", "-j", requeued[0], "-o", "JobID,State"],
        env=env,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert history[0].endswith("|REQUEUED") and history[-1].endswith("|COMPLETED"), history
    assert "resumed after" in (on_slurm / f"results/logs/V1/{PREEMPTED}/train.log").read_text()

    local = copy_workflow(tmp_path / "local")
    use_preset(local, "slurmtest", preset)
    local_result = snakemake(local, PREEMPTED_METRICS, "--cores", "1", "--configfile", config)
    assert local_result.returncode == 0, local_result.stderr[-3000:]
    assert (
        pq.read_table(on_slurm / PREEMPTED_METRICS).to_pylist() == pq.read_table(local / PREEMPTED_METRICS).to_pylist()
    )
