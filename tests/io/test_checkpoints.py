"""Damaged torch files (checkpoints, fine-tuned models) are named with what to do, by the helper and by every job
that reads one: vision fine-tuning, measurements and language-model fine-tuning."""

import pytest
import torch
from conftest import run_settings
from wdecay.io import checkpoints
from wdecay.io.files import DamagedFile


def saved(path):
    torch.save({"epoch": 2, "model": {"w": torch.randn(64, 64)}, "run": {"run_id": "test_run"}}, path)
    return path


def cut(path, keep):
    data = path.read_bytes()
    path.write_bytes(data[: keep(len(data))])
    return path


DAMAGE = {
    "empty": lambda n: 0,
    "cut in half": lambda n: n // 2,
    "only the header": lambda n: 100,
    "last bytes missing": lambda n: n - 10,
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_named_with_the_command_that_rebuilds_it(tmp_path, damage):
    path = cut(saved(tmp_path / "epoch2.pt"), DAMAGE[damage])
    with pytest.raises(DamagedFile) as error:
        checkpoints.load(path, "the training job of run test_run")
    message = str(error.value)
    assert message.startswith(f"{path}: cannot be read as a PyTorch checkpoint (")
    assert "the file is damaged or cut short. Delete it and rerun, or add " in message
    assert (
        f"`--forcerun {path}` to the snakemake command: that reruns the job that wrote it (the training job of run "
        "test_run) and the jobs that read it." in message
    )


def test_a_file_overwritten_with_text_is_named(tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("<html>503 Service Unavailable</html>\n" * 50)
    with pytest.raises(DamagedFile, match=r"model\.pt: cannot be read as a PyTorch checkpoint"):
        checkpoints.load(path, "its fine-tuning job, rule finetune")


def test_a_good_checkpoint_loads_and_a_missing_one_is_not_called_damaged(tmp_path):
    assert checkpoints.load(saved(tmp_path / "ok.pt"), "x")["epoch"] == 2
    with pytest.raises(FileNotFoundError):
        checkpoints.load(tmp_path / "absent.pt", "x")


def test_vision_finetuning_names_the_damaged_checkpoint(tmp_path, digits_dir):
    from wdecay.training import finetune

    bad = cut(saved(tmp_path / "epoch2.pt"), DAMAGE["only the header"])
    ft = {"epochs": 1, "lr": 0.01, "wd": 0.0}
    with pytest.raises(DamagedFile, match=r"epoch2\.pt: .* \(the training job of run test_run\)"):
        finetune.finetune(run_settings(), ft, 2, bad, digits_dir, tmp_path / "m.parquet", tmp_path / "m.pt", tmp_path)


@pytest.mark.parametrize("which", ["checkpoint", "finetuned"])
def test_a_measurement_names_the_damaged_weights_and_their_job(tmp_path, digits_dir, which):
    from wdecay.measure import job

    files = {"checkpoint": saved(tmp_path / "epoch2.pt"), "finetuned": saved(tmp_path / "model.pt")}
    cut(files[which], DAMAGE["cut in half"])
    weights = {"checkpoint": "iterate", "finetuned": "finetuned"}[which]
    writer = {"checkpoint": "the training job of run test_run", "finetuned": "its fine-tuning job, rule finetune"}
    settings = {"seed": 0, "batch_size": 50, "hessian_probes": 1}
    with pytest.raises(DamagedFile, match=rf"{files[which].name}: .* \({writer[which]}\)"):
        job.measure(
            run_settings(), {"hessian_trace": [weights]}, 2, files, digits_dir, digits_dir, settings, tmp_path / "o"
        )


def test_llm_finetuning_names_the_damaged_checkpoint_and_its_rule(tmp_path):
    from wdecay.training import llm

    bad = cut(saved(tmp_path / "step20.pt"), DAMAGE["last bytes missing"])
    run = {"family": "L1", "run_id": "gpt_mini_s0", "device": "cpu", "precision": "fp32"}
    ft = {"iters": 10, "lr": 1e-5, "wd": 0.0, "eval_every": 5, "keep_optimizer": True}
    with pytest.raises(DamagedFile, match=r"step20\.pt: .* \(the training job of run gpt_mini_s0, rule train_L1\)"):
        llm.finetune(run, ft, 20, bad, tmp_path / "corpus", tmp_path / "ft.parquet", tmp_path / "w")
