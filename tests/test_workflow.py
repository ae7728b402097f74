"""Workflow tests: real Snakemake on a copy of the workflow (lint, dry-run job counts, config errors before any job,
an end-to-end tiny run with its report, and a run on CIFAR files in the true on-disk format)."""

import re
import subprocess

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BIN, ROOT, copy_workflow, snakemake, write_cifar

pytestmark = pytest.mark.workflow


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture
def workflow(tmp_path):
    return copy_workflow(tmp_path)


def test_lint_and_format_are_clean():
    lint = snakemake(ROOT, "--lint")
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stderr
    for command in (["check", "."], ["format", "--check", "."]):
        ruff = subprocess.run([str(BIN / "ruff"), *command], cwd=ROOT, capture_output=True, text=True)
        assert ruff.returncode == 0, ruff.stdout


def test_tiny_dry_run_plans_every_figure(workflow):
    result = snakemake(workflow, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts == {
        "prepare_dataset": 2,
        "train_V1": 24,
        "aggregate_vision_train": 1,
        "claims": 1,
        "figure": 4,
        "all": 1,
        "total": 33,
    }


def test_paper_dry_run_plans_v1_with_downloads(workflow):
    result = snakemake(workflow, "-n", "--quiet", "rules", "--config", "preset=paper")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train_V1"] == 60 and counts["download_cifar"] == 2 and counts["prepare_dataset"] == 2


def test_one_figure_plans_only_its_jobs(workflow):
    result = snakemake(workflow, "results/figures/iclr_fig11.pdf", "-n", "--quiet", "rules")
    counts = job_counts(result.stdout + result.stderr)
    assert counts["figure"] == 1 and "claims" not in counts and counts["train_V1"] == 24


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda c: c["presets"]["tiny"]["families"]["V1"].update(lr_flow="1e-3"),
            "presets.tiny.families.V1.lr_flow: '1e-3' is a string",
        ),
        (
            lambda c: c["presets"]["tiny"]["families"]["V1"]["grid"][0].update(model="resnet50"),
            "presets.tiny.families.V1.grid[0].model: 'resnet50' is not one of",
        ),
    ],
)
def test_malformed_config_stops_before_any_job(workflow, edit, message):
    config = yaml.safe_load((workflow / "config.yaml").read_text())
    edit(config)
    (workflow / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workflow, "--cores", "1", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert message in result.stderr and "invalid config" in result.stderr
    assert not (workflow / "results").exists()


def test_tiny_preset_end_to_end(workflow):
    """The README's main job: every figure of the tiny preset, then the report; a second run has nothing to do."""
    result = snakemake(workflow, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = workflow / "results" / "figures"
    for name in ("iclr_fig01", "iclr_fig11", "neurips_fig11", "neurips_fig12"):
        assert (figures / f"{name}.pdf").stat().st_size > 5000 and (figures / f"{name}.png").stat().st_size > 5000
        data = pq.read_table(figures / f"{name}.data.parquet").to_pandas()
        assert data.run_id.nunique() == 24 and data.seed.nunique() == 2
    table = pd.read_parquet(workflow / "results" / "tables" / "vision_train")
    assert len(table) == 24 * 11 * 2 and table.code_version.nunique() == 1  # 24 runs, 11 evals, iterate + EMA
    for run_id in table.run_id.unique():
        assert (workflow / "results" / "V1" / run_id / "ckpt" / "epoch20.pt").exists()
        assert not (workflow / "results" / "V1" / run_id / "train" / ".partial").exists()
    claims = pq.read_table(workflow / "results" / "claims.parquet").to_pandas()
    assert set(claims.claim) == {"C01", "C02"} and set(claims.status) <= {"reproduced", "not reproduced"}
    assert "# Claims on preset tiny" in (workflow / "results" / "claims.md").read_text()

    again = snakemake(workflow, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    report = snakemake(workflow, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-2000:]
    assert "iclr_fig01" in (workflow / "report.html").read_text(errors="replace")


def test_cifar_files_in_true_format_run_through_the_workflow(workflow):
    """CIFAR-10/100 folders in torchvision's layout are parsed (no download), subset and trained on."""
    write_cifar(workflow / "fake", "cifar10", n_per_file=40, seed=1)
    write_cifar(workflow / "fake", "cifar100", n_per_file=100, seed=2)
    preset = {
        "description": "fake CIFAR",
        "device": "cpu",
        "datasets": {
            "c10": {"source": "cifar10", "root": "fake"},
            "c100": {"source": "cifar100", "root": "fake"},
            "c10_sub": {"source": "subset", "of": "c10", "per_class": 5},
        },
        "families": {
            "V1": {
                "kind": "vision",
                "seeds": [0],
                "epochs": 2,
                "width": 0.0625,
                "batch_size": 32,
                "checkpoints": [1],
                "ema": [0.9],
                "grid": [
                    {"model": "vgg16", "dataset": "c10", "lr": [0.05, 0.005], "wd": [0.0, 0.008]},
                    {"model": "preact_resnet34", "dataset": "c100", "lr": [0.1], "wd": [0.01]},
                ],
            }
        },
    }
    (workflow / "extra.yaml").write_text(yaml.safe_dump({"preset": "fake_cifar", "presets": {"fake_cifar": preset}}))
    targets = ["results/figures/iclr_fig01.pdf", "results/data/c10_sub/meta.json"]
    result = snakemake(workflow, *targets, "--cores", "2", "--configfile", "extra.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "download_cifar" not in result.stderr and not (workflow / "resources").exists()
    data = pq.read_table(workflow / "results" / "figures" / "iclr_fig01.data.parquet").to_pandas()
    assert set(data.dataset) == {"c10", "c100"} and data.run_id.nunique() == 5
    meta = yaml.safe_load((workflow / "results" / "data" / "c100" / "meta.json").read_text())
    assert meta["classes"] <= 100 and meta["train_size"] == 100 and meta["shape"] == [32, 32, 3]
    assert yaml.safe_load((workflow / "results" / "data" / "c10_sub" / "meta.json").read_text())["train_size"] == 50
    assert (workflow / "results" / "V1" / "resnet34_c100_lr0.1_wd0.01_fp32_s0" / "ckpt" / "epoch1.pt").exists()
