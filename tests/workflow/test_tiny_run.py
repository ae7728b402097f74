"""The README's main job, the whole tiny preset, run once; the tests that read the finished run: every figure, table
and claim, the report, a second run with nothing to do, and the as-written figures beside it. The longest file of
the suite: it is collected first (conftest), so that under pytest-xdist one worker starts it at once."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The README's main job, once for the tests that read a finished tiny run: every figure of the preset."""
    workflow = copy_workflow(tmp_path_factory.mktemp("tiny"))
    result = snakemake(workflow, "--cores", "2", timeout=3600)  # 20-30 min on 2 cores; more on a busy machine
    assert result.returncode == 0, result.stderr[-3000:]
    return workflow


def test_every_figure_is_drawn_with_its_data(tiny_run):
    figures = tiny_run / "results" / "figures"
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    for name in config["figures"]:
        assert (figures / f"{name}.pdf").stat().st_size > 5000 and (figures / f"{name}.png").stat().st_size > 5000
        data = pq.read_table(figures / f"{name}.data.parquet").to_pandas()
        assert len(data) > 0, name
    for name in ("iclr_fig01", "iclr_fig11", "neurips_fig11", "neurips_fig12"):
        data = pq.read_table(figures / f"{name}.data.parquet").to_pandas()
        assert data.run_id.nunique() == 24 and data.seed.nunique() == 2
    tab2 = pq.read_table(figures / "neurips_tab2.data.parquet").to_pandas()
    assert len(tab2) == 2 * 9 and set(tab2.weights) == {"ema0.9"}  # two heat maps over the 3 x 3 grid


def test_the_tables_hold_every_run_evaluation_and_measure(tiny_run):
    tables = tiny_run / "results" / "tables"
    train = pd.read_parquet(tables / "vision_train" / "V1.parquet")
    assert train.code_version.nunique() == 1
    evals = train.groupby("run_id").epoch.agg(["size", "max"])  # every other epoch and the first: VGG16 20, ResNets 12
    assert len(evals) == 24 and {tuple(e) for e in evals.values} == {(11, 20), (7, 12)}
    for run_id, last in evals["max"].items():
        assert (tiny_run / "results" / "V1" / run_id / "ckpt" / f"epoch{last}.pt").exists()
        assert not (tiny_run / "results" / "V1" / run_id / "train" / ".partial").exists()
    measure = pd.read_parquet(tables / "measure")
    assert set(measure.measure) == {"hessian_trace", "jacobian_norm", "noise_scale", "hessian_noise", "ensemble"}
    assert measure.value.notna().all() and set(measure.family) == {"V2", "V4", "N3", "N4"}
    assert len(pd.read_parquet(tables / "finetune")) == 24 * 2  # before and after each fine-tuning
    llm = pd.read_parquet(tables / "llm_train")
    assert llm.run_id.nunique() == 32 and set(llm.family) == {f"L{i}" for i in (1, 2, 4, 5, 6, 7, 8, 9, 10)}
    assert len(llm) == 32 * 11 and llm.train_loss.notna().all()  # 11 evaluations of every run
    assert (llm[llm.step == 200].train_loss < llm[llm.step == 0].train_loss.mean() - 1.5).all()  # they learn
    llm_ft = pd.read_parquet(tables / "llm_finetune")
    assert len(llm_ft) == 14 * 4 and set(llm_ft.from_step) == {100, 200}  # 4 evaluations of 14 fine-tunings


def test_every_claim_is_checked(tiny_run):
    claims = pq.read_table(tiny_run / "results" / "claims.parquet").to_pandas()
    assert set(claims.claim) == {f"C{i:02d}" for i in range(1, 31)}
    assert set(claims.status) <= {"reproduced", "contradicted", "inconclusive"}  # every family ran
    assert (claims.n_seeds >= 1).all() and set(claims.protocol) == {"as_run"}
    assert "# Claims on preset tiny" in (tiny_run / "results" / "claims.md").read_text()
    assert "<table>" in (tiny_run / "results" / "claims.html").read_text()


def test_every_job_did_its_work_in_a_timed_phase(tiny_run):
    for path in (tiny_run / "results" / "logs").rglob("*.log"):
        timing = json.loads(path.read_text().rsplit(" timing ", 1)[1].splitlines()[0])
        assert set(timing) - {"startup", "total"}, f"{path}: no phase, so the garbage collector stayed off"


def test_a_second_run_has_nothing_to_do_and_the_report_builds(tiny_run):
    again = snakemake(tiny_run, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    report = snakemake(tiny_run, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-2000:]
    assert "neurips_tab3" in (tiny_run / "report.html").read_text(errors="replace")


def test_as_written_protocol_beside_the_finished_run(tiny_run):
    """Under protocol=as_written, in the same results folder: the figures whose runs differ between the protocols
    (the sphere family V2/V3: initialisation, scale-invariant ResNet, projection, fine-tuned checkpoints; L5: the
    l2 penalty's factor) go to results/as_written/, only the runs that differ are trained, under their own ids,
    and the as-run results stay as they were."""
    workflow, view = tiny_run, tiny_run / "results" / "as_written"
    as_run_fig02 = (workflow / "results" / "figures" / "iclr_fig02.data.parquet").read_bytes()
    targets = [f"results/as_written/figures/{name}.png" for name in ("iclr_fig02", "iclr_fig15")]
    plan = snakemake(workflow, "-n", "--quiet", "rules", "--config", "protocol=as_written", "--", *targets)
    planned = job_counts(plan.stdout + plan.stderr)
    assert planned["train_V2"] + planned["train_V2_2"] == 9 and planned["train_L5"] == 3  # L1 is the same: kept
    assert "train_L1" not in planned
    result = snakemake(workflow, "--cores", "2", "--config", "protocol=as_written", "--", *targets)
    assert result.returncode == 0, result.stderr[-3000:]

    v2 = pd.read_parquet(view / "tables" / "vision_train" / "V2.parquet")
    assert v2.run_id.str.endswith("_init-he_si-per_layer_proj-step").all()
    start = v2[(v2.epoch == 0) & (v2.weights == "iterate")]
    assert (start.weight_norm - 1).abs().max() < 1e-5  # as written: projected at initialisation (trainable set)
    as_run = pd.read_parquet(workflow / "results" / "tables" / "vision_train" / "V2.parquet")
    norms = as_run[(as_run.epoch == 0) & (as_run.weights == "iterate")].weight_norm  # 14.2 unprojected
    # as run: the 6 runs of train.py are first projected after epoch 1, the 3 trajectories of traceh.py at the start
    assert (norms > 2).sum() == 6 and ((norms - 1).abs() < 1e-5).sum() == 3
    ft = pd.read_parquet(view / "tables" / "finetune" / "V2.parquet")
    assert set(ft.from_epoch) == {0, 3, 6}  # as written; as run 1, 3, 5
    assert set(pd.read_parquet(workflow / "results" / "tables" / "finetune" / "V2.parquet").from_epoch) == {1, 3, 5}
    fig15 = pd.read_parquet(view / "figures" / "iclr_fig15.data.parquet")
    l5 = fig15[fig15.family == "L5"].run_id
    assert len(l5) and l5.str.endswith("_l2pen-half").all()
    assert not fig15[fig15.family == "L1"].run_id.str.contains("l2pen").any()
    assert (workflow / "results" / "figures" / "iclr_fig02.data.parquet").read_bytes() == as_run_fig02
