"""Workflow tests: real Snakemake on a copy of the workflow (lint, dry-run job counts, config errors before any job,
and runs on CIFAR, CIFAR-5m and Tiny-ImageNet files in the true on-disk format; the tiny run: test_tiny_run.py)."""

import json
import os
import re
import subprocess

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BIN, ROOT, copy_workflow, job_counts, snakemake
from raw_datasets import write_cifar, write_cifar5m, write_tiny_imagenet

pytestmark = pytest.mark.workflow


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


def test_planning_imports_no_torch(workflow):
    """The Snakemake process plans the whole tiny DAG without importing torch (a second or more per process)."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('torch imported:', 'torch' in sys.modules))\n"
        "from snakemake.cli import main\n"
        "sys.argv = ['snakemake', '-n', '--quiet']\n"
        "main()\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", code], cwd=workflow, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "torch imported: False" in result.stdout, result.stdout + result.stderr


def test_jobs_import_the_package_of_their_own_checkout(tmp_path):
    """A second checkout that shares this environment runs its own wdecay, not the one the environment was
    installed from (an editable install puts that one on sys.path before the folder Snakemake appends)."""
    installed = subprocess.run(
        [str(BIN / "python"), "-c", "import wdecay; print(wdecay.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    second = copy_workflow(tmp_path / "second")
    assert str(second) not in installed.stdout  # the environment's own wdecay is another checkout's (or a copy)
    init = second / "workflow" / "scripts" / "wdecay" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "0.0.0.second-checkout+'))
    result = snakemake(second, "--cores", "1", "results/data/digits10/meta.json")
    assert result.returncode == 0, result.stderr
    meta = json.loads((second / "results" / "data" / "digits10" / "meta.json").read_text())
    assert meta["code_version"].startswith("0.0.0.second-checkout+"), meta["code_version"]


def test_a_local_run_ends_with_its_last_job(workflow):
    """Under a job-rate limit Snakemake starts a re-plan timer after each round of job selection, and the
    interpreter waits for the last one at exit (the profile's 10 s window after every run); the Snakefile's hooks
    cancel them. With a one-hour window, a run that waited would not end within the timeout."""
    target = "results/data/digits10/meta.json"
    result = snakemake(workflow, "--cores", "1", "--max-jobs-per-timespan", "100/1h", target, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (workflow / target).exists()


# One job per group of figures that read the same tables (50 figures in 19 groups): {rule: jobs}
FIGURE_GROUPS = ["V1", "V2", "V4", "V2_V4", "N1", "N2", "N3", "N4", "drawings", "L1", "L1_L2", "L1_L2_ft", "L8"]
FIGURE_GROUPS += ["L1_L9", "L1_L4", "L1_L5", "L6", "L1_L7", "L1_L10"]
FIGURE_JOBS = {f"figures_{group}": 1 for group in FIGURE_GROUPS}


def test_tiny_dry_run_plans_every_figure(workflow):
    result = snakemake(workflow, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts == {
        "prepare_dataset": 6,
        "train_V1": 8,  # VGG16: 20 epochs
        "train_V1_2": 16,  # the ResNets: 12 epochs (a group with its own checkpoints is its own rule)
        "train_V2": 6,
        "train_V2_2": 3,  # V3: the fine-tuned trajectories, checkpointed along the large-LR phase
        "train_V4": 3,
        "train_N1": 6,
        "train_N2": 8,
        "train_N3": 9,
        "train_N4": 3,
        "train_N4_2": 3,  # the lambda = 0.0125 runs, fine-tuned from their checkpoints
        "finetune": 9 + 9 + 6,
        "measure": 9 + 9 + 9 + 12,  # one job per checkpoint measured: V2, V4, N3, N4
        "aggregate_vision_train": 7,
        "aggregate_finetune": 3,
        "aggregate_measure": 4,
        "prepare_corpus": 1,
        "train_L1": 3,
        "train_L2": 4,
        "train_L4": 2,
        "train_L5": 3,
        "train_L6": 3,
        "train_L7": 2,
        "train_L8": 8,
        "train_L9": 4,
        "train_L10": 3,
        "mimic_schedule": 2,  # L9's schedules, from L1's runs at lambda 0.1 and 0.3
        "finetune_llm": (3 + 4) * 2,  # L1 and L2 runs from each of their 2 checkpoints
        "aggregate_llm_train": 9,
        "aggregate_llm_finetune": 2,
        "claims": 1,
        **FIGURE_JOBS,
        "all": 1,
        "total": 210 + len(FIGURE_JOBS),  # every job but the figures: 210
    }
    written = job_counts(snakemake(workflow, "-n", "--quiet", "rules", "--config", "protocol=as_written").stdout)
    # the same jobs, except that as written V3's epoch-1 checkpoint (ICLR Fig 13) is not also fine-tuned
    assert written == counts | {"measure": counts["measure"] + 1, "total": counts["total"] + 1}


def place_raw_datasets(workflow):
    """Empty stand-ins for every raw dataset where the README says to put it, older than the workflow's scripts (as
    data downloaded before a clone or a pull): enough for a dry run, which plans from their paths and never reads
    them."""
    resources = workflow / "resources"
    placed = [resources / "cifar" / "cifar-10-batches-py", resources / "cifar" / "cifar-100-python"]
    placed += [resources / "tiny-imagenet" / "tiny-imagenet-200", resources / "cifar5m"]
    for folder in placed:
        folder.mkdir(parents=True)
    for part in range(6):
        placed.append(resources / "cifar5m" / f"cifar5m_part{part}.npz")
        placed[-1].touch()
    for path in placed:
        os.utime(path, (1.6e9, 1.6e9))  # 2020


def test_paper_dry_run_plans_every_family_and_its_measurements(workflow):
    place_raw_datasets(workflow)
    result = snakemake(workflow, "-n", "--quiet", "rules", "--config", "preset=paper")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    trained = {"V1": 60, "V2": 30 + 15, "V4": 15, "N1": 54, "N2": 24, "N3": 36, "N4": 15 + 5}
    trained |= {"L1": 3, "L2": 4, "L4": 7, "L5": 7, "L6": 4, "L7": 3, "L8": 9 + 6 + 3, "L9": 4, "L10": 3}
    for family, runs in trained.items():
        rules = [f"train_{family}", *(f"train_{family}_{k}" for k in range(2, 5))]  # one per set of checkpoints
        assert sum(counts.get(rule, 0) for rule in rules) == runs, family
    # fine-tunings: V2's 15 fine-tuned runs and V4's 15 at 50 checkpoints each, N4's 5 at 11
    assert counts["finetune"] == 750 + 750 + 55
    # measurement jobs, one per checkpoint measured: V2's 750 fine-tuned checkpoints (as run after epochs 1, 3,
    # ..., 99, so the noise alignment after the first epoch joins a fine-tuned one); V4's 750 (trace and Jacobian
    # together); N3's 36 final ones; N4's 55 fine-tuned and 20 final ones
    assert counts["measure"] == 750 + 750 + 36 + (55 + 20)
    assert counts["finetune_llm"] == (3 + 4) * 5  # L1 and L2 from their checkpoints every 10k iterations
    assert counts["mimic_schedule"] == 2 and counts["prepare_corpus"] == 1
    assert {rule: n for rule, n in counts.items() if rule.startswith("figures_")} == FIGURE_JOBS
    assert not {"download_cifar", "download_cifar5m", "download_tiny_imagenet"} & set(counts)  # none is fetched again
    in_place = re.search(r"(\d+) jobs with every dataset in place", (ROOT / "README.md").read_text())
    assert in_place and counts["total"] == int(in_place[1]), "README, The paper preset: the plan with data in place"
    written = snakemake(workflow, "-n", "--quiet", "rules", "--config", "preset=paper", "protocol=as_written")
    assert written.returncode == 0, written.stderr
    # as written, V2's fine-tuned checkpoints are 0, 2, ..., 98 and its 5 epoch-1 measurements are their own jobs
    extra = {"measure": counts["measure"] + 5, "total": counts["total"] + 5}
    assert job_counts(written.stdout + written.stderr) == counts | extra


def test_one_figure_plans_only_its_jobs(workflow):
    result = snakemake(workflow, "results/figures/iclr_fig11.pdf", "-n", "--quiet", "rules")
    counts = job_counts(result.stdout + result.stderr)
    assert counts["figures_V1"] == 1 and "claims" not in counts and counts["train_V1"] + counts["train_V1_2"] == 24
    assert "measure" not in counts and "train_N3" not in counts
    result = snakemake(workflow, "results/figures/neurips_tab3.pdf", "-n", "--quiet", "rules")
    counts = job_counts(result.stdout + result.stderr)
    jobs = {"prepare_dataset": 2, "train_N3": 9, "measure": 9, "aggregate_vision_train": 1, "aggregate_measure": 1}
    assert counts == jobs | {"figures_N3": 1, "total": 23}
    result = snakemake(workflow, "results/figures/neurips_fig07.pdf", "-n", "--quiet", "rules")
    counts = job_counts(result.stdout + result.stderr)
    jobs = {"prepare_corpus": 1, "train_L1": 3, "mimic_schedule": 2, "train_L9": 4, "aggregate_llm_train": 2}
    assert counts == jobs | {"figures_L1_L9": 1, "total": 13}


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
        (
            lambda c: c["presets"]["tiny"]["families"]["L1"].update(dataset="owt"),
            "presets.tiny.families.L1.dataset: 'owt' is not a corpus of preset tiny (corpora: pydocs)",
        ),
        (
            lambda c: c["presets"]["tiny"]["families"]["L9"]["grid"][0].update(mimic=[0.2]),
            "presets.tiny.families.L9.grid[0]: L1 has no run with lr 0.006 and wd 0.2 to mimic",
        ),
        (
            lambda c: c["presets"]["tiny"]["families"]["L10"].update(model="gpt2_1b"),
            "presets.tiny.families.L10.model: 'gpt2_1b' is not a GPT size (known: gpt2_124m, gpt2_774m",
        ),
        (
            lambda c: c["presets"]["tiny"]["families"]["L2"].update(micro_batch=5),
            "presets.tiny.families.L2.micro_batch: 5 does not divide batch_size 16",
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


def test_cifar5m_and_tiny_imagenet_files_in_true_format_run_through_the_workflow(workflow):
    """CIFAR-5m parts and a tiny-imagenet-200 tree feed the NeurIPS families: a size sweep over CIFAR-5m subsets,
    and a grid on Tiny-ImageNet measured at the end (projected Jacobian above 2 classes, noise scale, ensemble)."""
    write_cifar5m(workflow / "fake" / "c5m")
    write_tiny_imagenet(workflow / "fake" / "tin")
    small = {"seeds": [0], "width": 0.0625, "batch_size": 8, "eval_batch_size": 50, "kind": "vision"}
    preset = {
        "description": "fake CIFAR-5m and Tiny-ImageNet",
        "device": "cpu",
        "datasets": {
            "c5m": {"source": "cifar5m", "root": "fake/c5m", "test_size": 30},
            "c5m_sub": {"source": "subset", "of": "c5m", "per_class": 3},
            "tin": {"source": "tiny_imagenet", "root": "fake/tin"},
        },
        "families": {
            "N1": small
            | {
                "epochs": 1,
                "ema": [],
                "grid": [
                    {"model": "preact_resnet18", "dataset": "c5m_sub", "epochs": 3, "lr": [0.05], "wd": [0.0, 0.01]},
                    {"model": "preact_resnet18", "dataset": "c5m", "lr": [0.05], "wd": [0.0, 0.01]},
                ],
            },
            "N3": small
            | {
                "epochs": 3,
                "first_decay": 1.0,
                "ema": [0.9],
                "checkpoints": [2, 3],
                "grid": [{"model": "preact_resnet18", "dataset": "tin", "lr": [0.05], "wd": [0.001, 0.01]}],
                "measure": [
                    {"measure": "jacobian_norm", "weights": ["ema0.9"], "epochs": [3]},
                    {"measure": "noise_scale", "weights": ["iterate"], "epochs": [3]},
                    {"measure": "ensemble", "weights": ["ema0.9"], "snapshots": [2, 3]},
                ],
            },
        },
        "measurement": {"batch_size": 4, "exact_jacobian_max_classes": 2, "jacobian_probes": 4, "noise_draws": 4},
    }
    (workflow / "extra.yaml").write_text(yaml.safe_dump({"preset": "fake_real", "presets": {"fake_real": preset}}))
    targets = [f"results/figures/{name}.pdf" for name in ("neurips_fig01", "neurips_fig04", "neurips_tab3")]
    result = snakemake(workflow, *targets, "--cores", "2", "--configfile", "extra.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    sizes = pq.read_table(workflow / "results" / "figures" / "neurips_fig01.data.parquet").to_pandas()
    assert sizes.x.nunique() == 2 and sizes.x.max() == 115  # all of parts 0-4, and a subset
    measure = pd.read_parquet(workflow / "results" / "tables" / "measure" / "N3.parquet")
    jac = measure[measure.measure == "jacobian_norm"]
    assert (jac.samples == 4).all() and (jac[jac.quantity == "norm"].stderr > 0).all()
    assert set(measure.measure) == {"jacobian_norm", "noise_scale", "ensemble"}
    ens = measure[measure.measure == "ensemble"].set_index("quantity").value
    assert ens.between(0, 1).all() and set(ens.index) == {"ensemble_err", "ema_err", "snapshot_err", "tvd"}
    meta = yaml.safe_load((workflow / "results" / "data" / "tin" / "meta.json").read_text())
    assert meta["classes"] == 3 and meta["shape"] == [64, 64, 3]
