"""Fine-tuning from a checkpoint (the paper's projection of an iterate onto a nearby minimum of the training loss):
the checkpoint's iterate trained for a few epochs at a small constant learning rate, evaluated before and after.

It reuses the training loop, so a fine-tuning job resumes after a kill and stops cleanly on SIGTERM/SIGUSR1/SIGINT
(``preempt``) exactly like a training job. Rows keep the identity of the run they came from (its large-phase lr,
its wd) and say how it was fine-tuned (from_epoch, ft_lr, ft_wd, ft_epochs); ``epoch`` counts fine-tuning epochs.
"""

import json
import logging
import shutil

import torch

from ..io import checkpoints, tables
from ..io.files import atomic_path
from ..io.joblog import phase
from ..io.provenance import code_version
from ..device import check_vision_precision, resolve_device, set_fp32_mode
from .vision import ID_COLUMNS, VisionTrainer, fit_or_save

log = logging.getLogger(__name__)


def settings(run: dict, ft: dict, from_epoch: int) -> dict:
    """Training settings of the fine-tuning of ``run`` from its checkpoint at ``from_epoch``: a constant rate
    ft['lr'] for ft['epochs'] epochs with weight decay ft['wd'], no EMA, evaluated at the start and the end, and
    its own data order (seeded by the run's seed and the checkpoint epoch)."""
    return run | {
        "lr": ft["lr"],
        "lr_flow": ft["lr"],
        "wd": ft["wd"],
        "epochs": ft["epochs"],
        "first_decay": 1.0,
        "ema": [],
        "checkpoints": [],
        "eval_every": ft["epochs"],
        "seed": run["seed"] * 100_003 + from_epoch,
    }


def rows_of(run: dict, ft: dict, from_epoch: int, trained_rows: list[dict]) -> list[dict]:
    """The fine-tuning rows with the identity of the original run."""
    ids = {k: run[k] for k in ID_COLUMNS} | {"code_version": code_version()}
    extra = {"from_epoch": from_epoch, "ft_lr": ft["lr"], "ft_wd": ft["wd"], "ft_epochs": ft["epochs"]}
    return [row | ids | extra for row in trained_rows]


def finetune(
    run: dict, ft: dict, from_epoch: int, checkpoint, data_dir, metrics_path, model_path, work_dir, threads: int = 1
) -> None:
    """Fine-tune the iterate of ``checkpoint`` and publish its metrics and final weights (for measurements)."""
    torch.set_num_threads(threads)
    set_fp32_mode(run["precision"])
    device = resolve_device(run["device"])
    check_vision_precision(run, device)
    ft_run = settings(run, ft, from_epoch)
    log.info("fine-tuning %s from epoch %d: %s", run["run_id"], from_epoch, json.dumps(ft))
    state = checkpoints.load(checkpoint, f"the training job of run {run['run_id']}")
    if state["epoch"] != from_epoch:
        raise ValueError(f"{checkpoint}: holds epoch {state['epoch']}, expected {from_epoch}")
    with phase("setup"):
        trainer = VisionTrainer(ft_run, data_dir, work_dir, device, init_weights=state["model"])
    trained = fit_or_save(trainer, work_dir)
    rows = rows_of(run, ft, from_epoch, trained)
    with phase("write"):
        with atomic_path(model_path) as tmp:
            torch.save({"run": run, "finetune": ft, "from_epoch": from_epoch, "model": trainer.model.state_dict()}, tmp)
        tables.write(tables.to_table(rows, tables.FINETUNE), tables.FINETUNE, metrics_path)
        shutil.rmtree(work_dir, ignore_errors=True)
