"""Raw datasets through the real workflow: every preset plans on a fresh clone with no data (download jobs in the
plan), missing data is fetched from its (here: local) published location and never again, no network fails only
the download jobs with what to do, and data missing under a root set elsewhere stops its job with instructions.
Nothing is fetched from the network: the published locations are replaced by a local HTTP server."""

import hashlib
import os
import re

import pytest
import yaml
from conftest import ROOT, copy_workflow, job_counts, snakemake, use_preset
from raw_datasets import closed_port, serve, write_cifar5m, write_tiny_imagenet, zip_tiny_imagenet

pytestmark = pytest.mark.workflow

DOWNLOADS = {"download_cifar": 2, "download_cifar5m": 6, "download_tiny_imagenet": 1}
DIGITS = {"source": "digits", "train_size": 50, "test_size": 20, "size": 16, "seed": 0}


@pytest.fixture
def workflow(tmp_path):
    return copy_workflow(tmp_path / "wf")


def said(result) -> str:
    return result.stdout + result.stderr


def data_preset(datasets: dict) -> dict:
    """A preset of the given datasets (its family trains on digits; the tests build the datasets alone)."""
    family = {"kind": "vision", "seeds": [0], "epochs": 1, "checkpoints": [1], "ema": [], "width": 0.0625}
    family["grid"] = [{"model": "preact_resnet18", "dataset": "digits", "lr": [0.1], "wd": [0.0]}]
    return {
        "description": "raw datasets",
        "device": "cpu",
        "datasets": {"digits": DIGITS} | datasets,
        "families": {"V1": family},
    }


def readme_plan() -> tuple[int, int]:
    """The paper preset's job counts the README gives for a fresh clone (as run, as written)."""
    found = re.search(r"plan: (\d+) jobs \((\d+) as written\) on a fresh clone", (ROOT / "README.md").read_text())
    assert found, "README, The paper preset: the plan's job count"
    return int(found.group(1)), int(found.group(2))


def test_every_preset_plans_on_a_fresh_clone_with_its_downloads(workflow):
    assert not (workflow / "resources").exists()
    totals = {}
    for preset in ("paper", "small"):
        for protocol in ("as_run", "as_written"):
            config = ["--config", f"preset={preset}", f"protocol={protocol}"]
            result = snakemake(workflow, "-n", "--quiet", "rules", *config)
            assert result.returncode == 0, said(result)[-3000:]
            counts = job_counts(said(result))
            assert {rule: counts.get(rule) for rule in DOWNLOADS} == DOWNLOADS, (preset, protocol)
            totals[preset, protocol] = counts["total"]
    assert (totals["paper", "as_run"], totals["paper", "as_written"]) == readme_plan()
    assert not (workflow / "resources").exists() and not (workflow / "results").exists()


def test_missing_data_is_fetched_from_its_location_once(workflow, tmp_path):
    """CIFAR-5m parts (published as part<i>.npz, checked against the server's MD5) and the Tiny-ImageNet zip (its
    MD5) are fetched into resources/, prepared, and not fetched again, even when the download scripts are newer."""
    served = tmp_path / "served"
    parts = write_cifar5m(served)
    for part in range(6):
        (served / f"cifar5m_part{part}.npz").rename(served / f"part{part}.npz")
    archive, _ = zip_tiny_imagenet(served)
    with serve(served) as (url, md5s):
        for part in range(6):
            md5s[f"part{part}.npz"] = hashlib.md5((served / f"part{part}.npz").read_bytes()).digest()
        datasets = {
            "c5m": {"source": "cifar5m", "url": f"{url}/part{{part}}.npz", "test_size": 30},
            "c5m_sub": {"source": "subset", "of": "c5m", "per_class": 2},
            "tin": {"source": "tiny_imagenet", "url": f"{url}/tiny-imagenet-200.zip"},
        }
        datasets["tin"]["md5"] = hashlib.md5(archive.read_bytes()).hexdigest()
        config = use_preset(workflow, "fetched", data_preset(datasets))
        targets = ["results/data/c5m_sub/meta.json", "results/data/tin/meta.json"]
        result = snakemake(workflow, *targets, "--cores", "2", "--configfile", config)
        assert result.returncode == 0, said(result)[-3000:]
    for part in range(6):
        assert (workflow / f"resources/cifar5m/cifar5m_part{part}.npz").read_bytes() == (
            served / f"part{part}.npz"
        ).read_bytes()
    meta = yaml.safe_load((workflow / "results/data/c5m/meta.json").read_text())
    assert meta["train_size"] == sum(len(y) for _, y in parts[:5]) and meta["test_size"] == 30
    assert "url" not in meta  # where the files came from is no part of the prepared data
    assert yaml.safe_load((workflow / "results/data/tin/meta.json").read_text())["classes"] == 3
    assert sorted(os.listdir(workflow / "resources/tiny-imagenet")) == ["tiny-imagenet-200"]
    for script in ("download_cifar5m.py", "download_tiny_imagenet.py"):
        (workflow / "workflow/scripts" / script).touch()  # newer than the data (e.g. a git pull)
    again = snakemake(workflow, *targets, "-n", "--configfile", config)  # the server is gone: nothing may need it
    assert again.returncode == 0 and "Nothing to be done" in said(again), said(again)[-3000:]


def test_without_network_only_the_download_jobs_fail_and_say_what_to_do(workflow):
    url = f"http://127.0.0.1:{closed_port()}"
    datasets = {"c5m": {"source": "cifar5m", "url": f"{url}/part{{part}}.npz"}}
    config = use_preset(workflow, "offline", data_preset(datasets))
    targets = ["results/data/c5m/meta.json", "results/data/digits/meta.json"]
    result = snakemake(workflow, *targets, "--cores", "2", "--keep-going", "--configfile", config)
    assert result.returncode != 0
    assert "Error in rule download_cifar5m" in said(result) and "Error in rule prepare_dataset" not in said(result)
    for part in range(6):
        dest = f"resources/cifar5m/cifar5m_part{part}.npz"
        assert f"could not fetch {url}/part{part}.npz to {dest}: " in said(result)
        assert f"Download {url}/part{part}.npz yourself, put it at {dest}, and rerun." in said(result)
        assert not (workflow / dest).exists()
    assert (workflow / "results/data/digits/meta.json").exists()  # what has its data was built
    assert not (workflow / "results/data/c5m").exists()


def test_data_missing_under_a_root_set_elsewhere_stops_its_job_with_instructions(workflow, tmp_path):
    elsewhere = tmp_path / "datasets"  # an absolute root outside the workflow
    datasets = {
        "c5m": {"source": "cifar5m", "root": str(elsewhere / "cifar5m"), "test_size": 30},
        "tin": {"source": "tiny_imagenet", "root": "data/tin"},
    }
    config = use_preset(workflow, "elsewhere", data_preset(datasets))
    targets = ["results/data/c5m/meta.json", "results/data/tin/meta.json", "results/data/digits/meta.json"]
    plan = snakemake(workflow, *targets, "-n", "--quiet", "rules", "--configfile", config)
    assert plan.returncode == 0 and job_counts(said(plan))["missing_raw_data"] == 1, said(plan)[-3000:]
    assert not {"download_cifar5m", "download_tiny_imagenet"} & set(job_counts(said(plan)))
    lint = snakemake(workflow, "--lint", "--configfile", config)
    assert lint.returncode == 0 and "Congratulations" in said(lint), said(lint)[-3000:]

    result = snakemake(workflow, *targets, "--cores", "2", "--keep-going", "--configfile", config)
    assert result.returncode != 0 and "Error in rule missing_raw_data" in said(result)
    assert (
        f"dataset 'c5m' (cifar5m): not found under its root {elsewhere}/cifar5m: missing {elsewhere}/cifar5m/"
        f"cifar5m_part0.npz, " in said(result)
    )
    assert (
        "Either download https://storage.googleapis.com/gresearch/cifar5m/part0.npz, " in said(result)
        and f"and save part<i>.npz as {elsewhere}/cifar5m/cifar5m_part<i>.npz (about 15 GB in all), or point "
        "presets.elsewhere.datasets.c5m.root at the folder that holds it, or remove that root to let the workflow "
        "download it into resources/cifar5m."
        in said(result)
    )
    assert (
        "dataset 'tin' (tiny_imagenet): not found under its root data/tin: missing data/tin/tiny-imagenet-200. "
        "Either download http://cs231n.stanford.edu/tiny-imagenet-200.zip (md5 90528d7ca1a48142e341f4ef8d21d0de) "
        "and unzip it into data/tin/ (giving data/tin/tiny-imagenet-200/wnids.txt)" in said(result)
    )
    assert (workflow / "results/data/digits/meta.json").exists()  # only the job that lacks its data failed
    assert not (workflow / "resources").exists()

    write_cifar5m(elsewhere / "cifar5m")  # the user puts the data where the message says
    write_tiny_imagenet(workflow / "data" / "tin")
    fixed = snakemake(workflow, *targets, "--cores", "2", "--configfile", config)
    assert fixed.returncode == 0 and "missing_raw_data" not in said(fixed), said(fixed)[-3000:]
    assert yaml.safe_load((workflow / "results/data/c5m/meta.json").read_text())["test_size"] == 30
