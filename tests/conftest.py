"""Shared test helpers: paths, small real datasets in their true on-disk formats, and run settings."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")


FIRST = "test_tiny_run.py"  # the longest file of the suite (the whole tiny preset, 7-15 minutes on 2 cores)


def pytest_configure(config):
    """Tests run torch as jobs do: malloc keeps freed memory (wdecay.heap). Under pytest-xdist, one torch thread in
    each worker: the workers and the workflow tests' jobs (one thread each) already fill the cores, and there a
    test with two threads took twice the CPU time (OpenMP's idle threads spin)."""
    from wdecay.heap import keep_freed_memory

    keep_freed_memory()
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """The tiny run's tests first, then the other workflow tests, then the unit tests (a stable sort keeps each
    group in order). pytest-xdist (--dist loadfile) hands out whole files in this order and gives a worker its next
    file once it has at most two tests left: the tiny run's file has more, so its worker holds nothing else until
    the run is done (a file queued behind it ran on one core at the end of the suite), while the other worker takes
    the long workflow files, then the many short ones, which even out the end."""
    items.sort(key=lambda item: (item.path.name != FIRST, item.get_closest_marker("workflow") is None))


def run_settings(**overrides) -> dict:
    """Settings of a small, fast vision run (the shape the training job receives from the run table)."""
    run = dict(
        preset="test",
        family="V1",
        run_id="test_run",
        model="preact_resnet18",
        dataset="digits",
        lr=0.1,
        wd=0.01,
        seed=0,
        precision="fp32",
        momentum=0.0,
        width=0.0625,
        epochs=4,
        steps=None,
        first_decay=0.5,
        lr_flow=1e-3,
        batch_size=32,
        eval_batch_size=100,
        ema=[0.9],
        wd_params="all",
        checkpoints=[2, 4],
        sphere=False,
        eval_every=1,
        resume_every=1,
        device="cpu",
        init="pytorch",
        vgg_input=None,
        si_arch=None,
        projection="step",
        variant="",
    )
    run.update(overrides)
    return run


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """A small prepared digits dataset (200 train / 100 test images of 16x16)."""
    from wdecay.data import images

    folder = tmp_path_factory.mktemp("digits")
    splits = images.make_digits(train_size=200, test_size=100, size=16, seed=0)
    images.save_prepared(folder, splits, {"name": "digits", "source": "digits"})
    return folder


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, scripts, config, profiles) to run in isolation."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in ("Snakefile", "config.yaml", "workflow", "profiles", "envs"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / item)
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, *args], cwd=workdir, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """{rule: jobs} of a dry run's job stats ('total' among them)."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def digits_preset(*, grid: list[dict], epochs: int = 4, retries: int = 0, **family) -> dict:
    """A preset of one small V1 family on offline digits (for runs of the real workflow in tests)."""
    return {
        "description": "a test preset",
        "device": "cpu",
        "resources": {"train": {"threads": 1, "retries": retries}},
        "datasets": {"digits": {"source": "digits", "train_size": 1000, "test_size": 200, "size": 16, "seed": 0}},
        "families": {
            "V1": {
                "kind": "vision",
                "seeds": [0],
                "epochs": epochs,
                "width": 0.125,
                "batch_size": 64,
                "checkpoints": [epochs],
                "ema": [0.9],
                "grid": grid,
            }
            | family
        },
    }


def use_preset(workflow: Path, name: str, preset: dict) -> str:
    """Write ``preset`` into a config file of ``workflow`` that selects it; returns the file's name."""
    import yaml

    (workflow / f"{name}.yaml").write_text(yaml.safe_dump({"preset": name, "presets": {name: preset}}))
    return f"{name}.yaml"


def wait_for(path: Path, timeout: float = 120) -> None:
    """Poll until ``path`` exists (a file that a running job writes)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.01)
