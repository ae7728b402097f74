"""Training of one vision run: plain SGD with coupled weight decay (for scale-invariant models, projected onto the
unit sphere after every step or epoch, or only at initialisation: the run's ``projection``) and a step decay of the
learning rate, EMAs of the weights, per-epoch metrics of the iterate and of each EMA, checkpoints at configured
epochs, and exact resumption after a kill.

Work in progress lives in ``work_dir``: a resumable state every ``resume_every`` epochs and, when a stop is
requested (SIGTERM, SIGUSR1, SIGINT: see ``preempt``), right after the current step; and the epoch checkpoints.
Outputs appear only when the run is complete, so a killed job leaves no partial output and its rerun resumes from
the last state, ending with the same numbers as an uninterrupted run (bit-identical on CPU).
"""

import hashlib
import json
import math
import logging
import shutil
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm import tqdm

from ..data import images
from ..io import tables
from .ema import EMA, recompute_bn_stats
from ..io.files import atomic_path, link_or_copy
from ..io.joblog import phase
from ..data.loader import DeviceImages, channel_stats
from ..device import autocast, check_vision_precision, memory_format, resolve_device, set_fp32_mode
from ..models.vision import build_model, model_options
from .optim import decay_groups, make_sgd, project_to_sphere, set_lr, squared_norm, step_lr
from .preempt import StopRequest, Stopped
from ..io.provenance import code_version

log = logging.getLogger(__name__)
ID_COLUMNS = [f.name for f in tables.RUN_FIELDS if f.name != "code_version"]  # taken from the run settings


@torch.no_grad()
def evaluate(model, data: DeviceImages, batch_size: int, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(error, cross-entropy) averaged over all examples of ``data``, eval mode, as 0-d tensors (no host sync)."""
    model.eval()
    wrong = torch.zeros((), dtype=torch.float64, device=data.y.device)  # float64: exact counts, exact ratios
    loss = torch.zeros((), dtype=torch.float64, device=data.y.device)
    for x, y in data.sequential(batch_size):
        with autocast(precision, x.device):
            logits = model(x)
        loss += F.cross_entropy(logits.float(), y, reduction="sum")
        wrong += (logits.argmax(1) != y).sum()
    return wrong / len(data), loss / len(data)


def fingerprint(run: dict) -> str:
    """Hash of the settings that determine the numbers (not where they run)."""
    settings = {k: v for k, v in run.items() if k not in ("device", "preset")}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def load_state(path: Path, run: dict, device) -> dict | None:
    """The resumable state saved at ``path`` for ``run``; None when there is none, or when it was made with other
    settings (then its work folder is discarded)."""
    if not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state["fingerprint"] != fingerprint(run):
        log.warning("discarding %s: it was made with other settings", path.parent)
        shutil.rmtree(path.parent)
        return None
    return state


class VisionTrainer:
    """One run's model, optimizer, EMAs and data on the device. ``init_weights`` (a model state dict) replaces the
    fresh initialisation, for fine-tuning from a checkpoint."""

    def __init__(self, run: dict, data_dir, work_dir, device: torch.device, init_weights: dict | None = None):
        self.run, self.device, self.work_dir = run, device, Path(work_dir)
        splits, self.meta = images.load_prepared(data_dir)
        mean, std = channel_stats(splits["train"][0])
        self.train = DeviceImages(*splits["train"], mean, std, device)
        self.test = DeviceImages(*splits["test"], mean, std, device)
        self.decay_epoch = round(run["first_decay"] * run["epochs"])
        self.max_steps = run.get("steps")  # a step budget: the last epoch ends after this many steps in all
        if self.max_steps is not None:
            per_epoch = self.train.steps_per_epoch(run["batch_size"])
            needed = math.ceil(self.max_steps / per_epoch)
            if needed != run["epochs"]:
                raise ValueError(
                    f"{run['run_id']}: steps {self.max_steps} at {per_epoch} steps per epoch take {needed} epochs, "
                    f"but the run has epochs {run['epochs']}: set epochs: {needed}"
                )
            self.decay_step = round(run["first_decay"] * self.max_steps)  # the rate drops after this step
        self.eval_epochs = {e for e in range(0, run["epochs"] + 1) if e % run["eval_every"] == 0}
        self.eval_epochs |= {run["epochs"], *run["checkpoints"]}

        torch.manual_seed(run["seed"])
        self.model = build_model(run["model"], self.meta["classes"], run["width"], **model_options(run))
        if init_weights is not None:
            self.model.load_state_dict(init_weights)
        self.model.to(device, memory_format=memory_format(device))
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.projection = run["projection"] if run["sphere"] else None  # step, epoch or init (only)
        if self.projection in ("step", "init") and init_weights is None:  # a fine-tuning starts where its run was
            project_to_sphere(self.trainable)
        self.optimizer = make_sgd(self.model, run["lr"], run["wd"], run["momentum"], run["wd_params"])
        self.scaler = torch.amp.GradScaler(device.type, enabled=run["precision"] == "fp16")
        self.emas = [EMA(self.model, coef) for coef in run["ema"]]
        self.generator = torch.Generator().manual_seed(run["seed"])  # draws each epoch's data order
        self.epoch_start = self.generator.get_state()  # its state before the current epoch's draw
        self.epoch, self.step, self.rows = 0, 0, []  # epochs completed, optimizer steps, metric rows
        self.batch, self.loss_sum = 0, torch.zeros((), device=device)  # progress within the current epoch
        groups = decay_groups(self.model, run["wd_params"])
        self.decay_names = [name for name, _ in groups["decay"]]
        log.info(
            "decay group: %d tensors, %d parameters; no-decay group: %d tensors, %d parameters",
            len(groups["decay"]),
            sum(p.numel() for _, p in groups["decay"]),
            len(groups["no_decay"]),
            sum(p.numel() for _, p in groups["no_decay"]),
        )

    # --- state -----------------------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.work_dir / "state.pt"

    def checkpoint_path(self, epoch: int) -> Path:
        return self.work_dir / f"epoch{epoch}.pt"

    def snapshot(self) -> dict:
        """Everything needed to resume, and to evaluate or fine-tune the iterate and its EMAs."""
        return {
            "run": self.run,
            "fingerprint": fingerprint(self.run),
            "code_version": code_version(),
            "classes": self.meta["classes"],
            "epoch": self.epoch,
            "step": self.step,
            "batch": self.batch,
            "loss_sum": self.loss_sum,
            "model": self.model.state_dict(),
            "ema": {e.name: e.state_dict() for e in self.emas},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            # mid-epoch, the state that drew this epoch's order, so that a resume draws it again
            "generator": self.epoch_start if self.batch else self.generator.get_state(),
            "rows": self.rows,
        }

    @phase("write")
    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            torch.save(self.snapshot(), tmp)

    def stop_here(self, stop: StopRequest, where: str) -> None:
        """Save the resumable state and raise ``Stopped``."""
        self.save(self.state_path)
        raise Stopped(stop.signum, where)

    def try_resume(self) -> bool:
        """Load the saved state if it belongs to these settings; otherwise discard stale work."""
        state = load_state(self.state_path, self.run, self.device)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        for e in self.emas:
            e.load_state_dict(state["ema"][e.name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"].cpu())  # a CPU generator, whatever map_location did
        self.epoch, self.step, self.rows = state["epoch"], state["step"], state["rows"]
        self.batch, self.loss_sum = state["batch"], state["loss_sum"]
        log.info("resumed after %d epochs of %d and %d batches of the next", self.epoch, self.run["epochs"], self.batch)
        return True

    # --- training and evaluation -----------------------------------------------------------------------------

    def lr_at(self, epoch: int) -> float:
        return step_lr(max(epoch, 1), self.run["lr"], self.run["lr_flow"], self.decay_epoch)

    def lr_of_step(self, step: int) -> float:
        """The rate of the ``step``-th SGD step (1-based): by epoch, or by step under a step budget."""
        if self.max_steps is None:
            return self.lr_at(max(1, math.ceil(step / self.train.steps_per_epoch(self.run["batch_size"]))))
        return self.run["lr"] if step <= self.decay_step else self.run["lr_flow"]

    @phase("train")
    def train_epoch(self, stop: StopRequest | None = None) -> float:
        """One epoch of SGD, or the rest of an interrupted one; returns the mean training loss of its mini-batches
        (one host sync). When ``stop`` turns true, saves the resumable state after the current step and raises
        ``Stopped``."""
        epoch = self.epoch + 1
        set_lr(self.optimizer, self.lr_of_step(self.step + 1))  # the rate of the next step (also after a resume)
        self.model.train()
        self.epoch_start = self.generator.get_state()
        for x, y in self.train.shuffled(self.run["batch_size"], self.generator, start=self.batch):
            if self.max_steps is not None:
                if self.step == self.max_steps:
                    break
                if self.step == self.decay_step:
                    set_lr(self.optimizer, self.run["lr_flow"])
            with autocast(self.run["precision"], self.device):
                loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.projection == "step":
                project_to_sphere(self.trainable)
            for e in self.emas:
                e.update()
            self.loss_sum += loss.detach().float()
            self.step += 1
            self.batch += 1
            if stop:
                self.stop_here(stop, f"in epoch {epoch} after batch {self.batch} (step {self.step})")
        if self.projection == "epoch":
            project_to_sphere(self.trainable)
        mean_loss = self.loss_sum.item() / max(self.batch, 1)  # the batches of this epoch (fewer in a last, short one)
        self.epoch, self.batch = epoch, 0
        self.loss_sum = torch.zeros((), device=self.device)
        return mean_loss

    def weight_sets(self):
        yield "iterate", None, self.model
        for e in self.emas:
            yield e.name, e.coef, e.model

    @phase("evaluate")
    def evaluate_all(self) -> list[dict]:
        """Metric rows of the iterate and of each EMA (with BN statistics recomputed) at the current epoch."""
        run, prec = self.run, self.run["precision"]
        ids = {k: run[k] for k in ID_COLUMNS} | {"code_version": code_version()}
        lr_now = self.lr_of_step(max(self.step, 1))  # the rate of the last step taken
        rows = []
        for name, coef, model in self.weight_sets():
            if coef is not None:
                with autocast(prec, self.device):
                    # full training batches only: each batch weighs equally in the average
                    batches = self.train.sequential(run["batch_size"], drop_last=True)
                    recompute_bn_stats(model, (x for x, _ in batches))
            params = dict(model.named_parameters())
            train_err, train_ce = evaluate(model, self.train, run["eval_batch_size"], prec)
            test_err, test_ce = evaluate(model, self.test, run["eval_batch_size"], prec)
            decayed = squared_norm(params[n] for n in self.decay_names)
            everything = squared_norm(params.values())
            values = torch.stack(
                [train_err, train_ce, test_err, test_ce, decayed.to(self.device), everything.to(self.device)]
            ).tolist()
            train_err, train_ce, test_err, test_ce, decayed, everything = values
            rows.append(
                ids
                | {
                    "epoch": self.epoch,
                    "step": self.step,
                    "train_examples": len(self.train),
                    "weights": name,
                    "ema_coef": coef,
                    "lr_now": lr_now,
                    "eta_lambda": lr_now * run["wd"],
                    "train_err": train_err,
                    "train_ce": train_ce,
                    "test_err": test_err,
                    "test_ce": test_ce,
                    "reg_loss": train_ce + 0.5 * run["wd"] * decayed,
                    "weight_norm": decayed**0.5,
                    "weight_norm_all": everything**0.5,
                }
            )
        return rows

    def fit(self, stop: StopRequest | None = None) -> list[dict]:
        """Train to the last epoch (resuming if possible) and return all metric rows; see ``train_epoch`` for
        ``stop``."""
        run = self.run
        if not self.try_resume():
            self.rows = self.evaluate_all()
            if 0 in run["checkpoints"]:
                self.save(self.checkpoint_path(0))
        start = time.perf_counter()
        first_epoch = self.epoch
        with tqdm(
            total=run["epochs"], initial=self.epoch, desc=run["run_id"], file=sys.stderr, mininterval=10, unit="epoch"
        ) as bar:  # closed also when a stop request ends the loop
            while self.epoch < run["epochs"]:
                train_loss = self.train_epoch(stop)
                if self.epoch in self.eval_epochs:
                    rows = self.evaluate_all()  # the iterate first
                    self.rows += rows
                    bar.set_postfix(loss=f"{train_loss:.3g}", test_err=f"{rows[0]['test_err']:.3f}")
                if self.epoch in run["checkpoints"]:
                    self.save(self.checkpoint_path(self.epoch))
                if self.epoch < run["epochs"] and stop:
                    self.stop_here(stop, f"after epoch {self.epoch} (step {self.step})")
                if self.epoch < run["epochs"] and self.epoch % run["resume_every"] == 0:
                    self.save(self.state_path)
                bar.update(1)
        seconds = time.perf_counter() - start
        examples = (self.epoch - first_epoch) * self.train.steps_per_epoch(run["batch_size"]) * run["batch_size"]
        log.info(
            "trained %d epochs in %.1f s (%.0f training images/s incl. evaluation)",
            self.epoch - first_epoch,
            seconds,
            examples / max(seconds, 1e-9),
        )
        return self.rows


def fit_or_save(trainer: VisionTrainer, work_dir) -> list[dict]:
    """``trainer.fit`` while listening for stop signals; a stop saves the resumable state and raises ``Stopped``."""
    stop = StopRequest()
    with stop.listening():
        try:
            return trainer.fit(stop)
        except Stopped as e:
            log.warning("%s; its state is saved in %s: rerun the job to resume from there", e, work_dir)
            raise


def train(run: dict, data_dir, metrics_path, checkpoint_paths: dict[int, str], work_dir, threads: int = 1) -> None:
    """Run one training job end to end and publish its outputs (metrics parquet and checkpoints). A stop request
    (see ``preempt``) saves the resumable state and raises ``Stopped``."""
    torch.set_num_threads(threads)
    set_fp32_mode(run["precision"])
    device = resolve_device(run["device"])
    check_vision_precision(run, device)
    log.info("run %s on %s (%d threads): %s", run["run_id"], device, threads, json.dumps(run))
    with phase("setup"):
        trainer = VisionTrainer(run, data_dir, work_dir, device)
    rows = fit_or_save(trainer, work_dir)
    with phase("write"):
        for epoch, path in checkpoint_paths.items():
            link_or_copy(trainer.checkpoint_path(epoch), path)
        tables.write(tables.to_table(rows, tables.VISION_TRAIN), tables.VISION_TRAIN, metrics_path)
        shutil.rmtree(work_dir, ignore_errors=True)
