"""Training of one language-model run: a GPT-2 on a token corpus, batches sampled with replacement, gradient
accumulation over micro-batches, clipping, AdamW (decoupled WD), a coupled l2 penalty or SGD with momentum, a
per-iteration learning-rate schedule, an EMA of the weights, checkpoints at configured iterations, and exact
resumption after a kill (the same pattern as the vision trainer: see ``train``).

Every ``eval_every`` iterations a row records the train and validation loss of the iterate and of the EMA on fixed
evaluation batches, the pre-clip gradient norm and the variance of the micro-batch gradients of that iteration,
the norms of the decayed set and of all parameters, the effective rate lr/||w||, throughput and MFU. Nothing else
in the loop waits for the device. A divergence is data: a non-finite evaluation loss ends the run cleanly with its
row (the remaining checkpoints hold the last weights), and the spike / divergence flags are computed on the curve.
"""

import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import divergence
from ..models import gpt
from ..io import checkpoints, tables
from .ema import EMA
from ..io.files import atomic_path, link_or_copy
from ..io.joblog import phase
from .llm_optim import add_l2_gradient, decay_groups, l2_gradient_coef, load_moments, make_optimizer
from .optim import set_lr, squared_norm
from .preempt import StopRequest, Stopped
from ..io.provenance import code_version
from ..data.tokens import TokenStream, read_meta
from ..device import autocast, resolve_device, set_fp32_mode
from .vision import fingerprint, fit_or_save, load_state

log = logging.getLogger(__name__)
ID_COLUMNS = [f.name for f in tables.LLM_RUN_FIELDS if f.name != "code_version"]
EVAL_SEEDS = {"train": 1_000_003, "val": 2_000_003}  # fixed evaluation batches, independent of the run's seed


class LLMTrainer:
    """One run's model, optimizer, EMA, data stream and schedule on the device. ``init`` (a checkpoint dict)
    starts from its weights, and from its optimizer state when ``keep_optimizer`` (fine-tuning)."""

    def __init__(self, run: dict, data_dir, work_dir, device, rates: list[float], init=None, keep_optimizer=False):
        self.run, self.device, self.work_dir, self.rates = run, device, Path(work_dir), rates
        if len(rates) != run["max_iters"]:
            raise ValueError(f"{run['run_id']}: the schedule has {len(rates)} rates for {run['max_iters']} iterations")
        self.meta = read_meta(data_dir)
        self.train_data = TokenStream.open(data_dir, "train", device)
        val_data = TokenStream.open(data_dir, "val", device)
        ctx, n, bs = run["context"], run["eval_sequences"], run["eval_batch"]
        self.eval_batches = {
            "train": self.train_data.fixed_batches(n, ctx, bs, EVAL_SEEDS["train"]),
            "val": val_data.fixed_batches(n, ctx, bs, EVAL_SEEDS["val"]),
        }
        if run["batch_size"] % run["micro_batch"]:
            raise ValueError(f"{run['run_id']}: batch_size {run['batch_size']} is not a multiple of micro_batch")
        self.accumulation = run["batch_size"] // run["micro_batch"]

        torch.manual_seed(run["seed"])
        self.model = gpt.build_gpt(run["model"], gpt.padded_vocab(self.meta["vocab_size"]), ctx).to(device)
        self.optimizer = make_optimizer(self.model, run, device)
        if init is not None:
            self.model.load_state_dict(init["model"])
            if keep_optimizer:  # the moments only: the fine-tuning's own lr and wd stay
                load_moments(self.optimizer, init["optimizer"])
        self.forward = torch.compile(self.model) if run["compile"] else self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.decayed = [p for _, p in decay_groups(self.model, run["decay_ln"])["decay"]]
        self.ema = EMA(self.model, run["ema"])
        self.generator = torch.Generator().manual_seed(run["seed"])
        self.step, self.rows, self.halted = 0, [], False
        self.train_seconds = 0.0  # training time since the last row (evaluation excluded)
        n_params = gpt.num_params(self.model, embeddings=False)
        self.flops_per_token = gpt.flops_per_token(self.model.cfg, n_params)
        self.peak = gpt.peak_flops(device, run["precision"])
        log.info(
            "%s: %d parameters, %d micro-batches of %d per iteration",
            run["run_id"],
            n_params,
            self.accumulation,
            run["micro_batch"],
        )
        self.grad_norm = self.grad_var = None  # of the last iteration, as device tensors

    # --- state -----------------------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path:
        return self.work_dir / "state.pt"

    def checkpoint_path(self, step: int) -> Path:
        return self.work_dir / f"step{step}.pt"

    def snapshot(self) -> dict:
        return {
            "run": self.run,
            "fingerprint": fingerprint(self.run),
            "code_version": code_version(),
            "vocab_size": self.meta["vocab_size"],
            "step": self.step,
            "halted": self.halted,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "rows": self.rows,
        }

    @phase("write")
    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            torch.save(self.snapshot(), tmp)

    def try_resume(self) -> bool:
        state = load_state(self.state_path, self.run, self.device)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.step, self.rows, self.halted = state["step"], state["rows"], state["halted"]
        log.info("resumed after %d iterations of %d", self.step, self.run["max_iters"])
        return True

    # --- training and evaluation -----------------------------------------------------------------------------

    @phase("train")
    def train_step(self, measure: bool) -> None:
        """One iteration: accumulate the micro-batch gradients, add the l2 gradient, clip, step, update the EMA.
        With ``measure``, keep the pre-clip gradient norm and the micro-batch gradient variance (device tensors)."""
        run = self.run
        set_lr(self.optimizer, self.rates[self.step])
        self.model.train()
        k = self.accumulation
        sum_sq = torch.zeros((), device=self.device) if measure else None
        previous = None
        for _ in range(k):
            x, y = self.train_data.sample(run["micro_batch"], run["context"], self.generator)
            with autocast(run["precision"], self.device):
                loss = self.forward(x, y)
            (loss / k).backward()
            if measure and k > 1:  # g_i = k * (G_i - G_(i-1)), G the accumulated gradient
                grads = [p.grad for p in self.params]
                g_i = grads if previous is None else torch._foreach_sub(grads, previous)
                sum_sq += squared_norm(g_i) * k**2
                previous = [g.clone() for g in grads]
        if measure and k > 1:  # unbiased E||g_i - g||^2 = (sum ||g_i||^2 - k ||g||^2) / (k - 1)
            mean_sq = squared_norm([p.grad for p in self.params])
            self.grad_var = (sum_sq - k * mean_sq) / (k - 1)
        add_l2_gradient(self.decayed, l2_gradient_coef(run))
        norm = torch.nn.utils.clip_grad_norm_(self.params, run["grad_clip"], foreach=True)
        if measure:
            self.grad_norm = norm
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update()
        self.step += 1

    @torch.no_grad()
    def loss_on(self, model, split: str) -> torch.Tensor:
        """Mean token cross-entropy of ``model`` on the fixed evaluation sequences of ``split`` (device tensor); the
        batches' means are weighted by their sequences, so the last batch may be smaller."""
        model.eval()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for x, y in self.eval_batches[split]:
            with autocast(self.run["precision"], self.device):
                total += model(x, y).double() * len(x)
        return total / self.run["eval_sequences"]

    @phase("evaluate")
    def evaluate(self) -> dict:
        """The metric row of the current iteration (one host sync)."""
        run = self.run
        losses = [self.loss_on(m, s) for m in (self.forward, self.ema.model) for s in ("train", "val")]
        norms = [squared_norm(self.decayed).sqrt(), squared_norm(self.params).sqrt()]
        grads = [g if g is not None else torch.tensor(math.nan) for g in (self.grad_norm, self.grad_var)]
        values = torch.stack([v.double().to(self.device) for v in [*losses, *norms, *grads]]).tolist()
        train, val, ema_train, ema_val, weight_norm, weight_norm_all, grad_norm, grad_var = values
        lr_now = self.rates[self.step - 1] if self.step else None
        tokens_per_s = mfu = None
        if self.step and self.rows and self.train_seconds > 0:
            iters = self.step - self.rows[-1]["step"]
            tokens_per_s = iters * run["batch_size"] * run["context"] / self.train_seconds
            mfu = gpt.mfu(tokens_per_s, self.flops_per_token, self.peak)
        self.train_seconds = 0.0
        self.grad_norm = self.grad_var = None
        return {k: run[k] for k in ID_COLUMNS} | {
            "code_version": code_version(),
            "step": self.step,
            "tokens": self.step * run["batch_size"] * run["context"],
            "lr_now": lr_now,
            "train_loss": train,
            "val_loss": val,
            "ema_train_loss": ema_train,
            "ema_val_loss": ema_val,
            "ema_coef": run["ema"],
            "grad_norm": None if math.isnan(grad_norm) or not self.step else grad_norm,
            "grad_var": None if math.isnan(grad_var) or not self.step else grad_var,
            "weight_norm": weight_norm,
            "weight_norm_all": weight_norm_all,
            "eff_lr": lr_now / weight_norm if lr_now is not None and weight_norm > 0 else None,
            "spike": False,  # set on the whole curve at the end
            "diverged": False,
            "tokens_per_s": tokens_per_s,
            "mfu": mfu,
        }

    def eval_steps(self) -> set[int]:
        run = self.run
        return {*range(0, run["max_iters"] + 1, run["eval_every"]), run["max_iters"], *run["checkpoints"]}

    def fit(self, stop: StopRequest | None = None) -> list[dict]:
        """Train to ``max_iters`` (resuming if possible), or until the loss stops being finite; return the rows."""
        run, evals = self.run, self.eval_steps()
        if not self.try_resume():
            self.rows = [self.evaluate()]
            self.halted = not math.isfinite(self.rows[0]["train_loss"])
            if 0 in run["checkpoints"]:
                self.save(self.checkpoint_path(0))
        bar = tqdm(total=run["max_iters"], initial=self.step, desc=run["run_id"], file=sys.stderr, mininterval=10)
        with bar:
            while self.step < run["max_iters"] and not self.halted:
                start = time.perf_counter()
                self.train_step(measure=self.step + 1 in evals)
                if self.step in evals:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    self.train_seconds += time.perf_counter() - start
                    row = self.evaluate()
                    self.rows.append(row)
                    self.halted = not math.isfinite(row["train_loss"])
                    bar.set_postfix(loss=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}")
                    if row["tokens_per_s"]:
                        log.info(
                            "step %d: train %.4f val %.4f, %.0f tokens/s, MFU %s",
                            self.step,
                            row["train_loss"],
                            row["val_loss"],
                            row["tokens_per_s"],
                            f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a (no known peak for this device)",
                        )
                else:
                    self.train_seconds += time.perf_counter() - start
                if self.step in run["checkpoints"]:
                    self.save(self.checkpoint_path(self.step))
                bar.update(1)
                if self.step < run["max_iters"] and stop:
                    self.save(self.state_path)
                    raise Stopped(stop.signum, f"after iteration {self.step}")
                if self.step % run["resume_every"] == 0 and self.step < run["max_iters"]:
                    self.save(self.state_path)
        if self.halted:
            log.warning("%s: the loss is not finite after iteration %d; the run ends here", run["run_id"], self.step)
            for step in run["checkpoints"]:
                if step > self.step:
                    self.save(self.checkpoint_path(step))
        return flag_divergence(self.rows, run["max_iters"])


def flag_divergence(rows: list[dict], max_iters: int) -> list[dict]:
    """The rows with ``spike`` per row and the run's ``diverged`` (C24's definition) on the train-loss curve."""
    steps, losses = [r["step"] for r in rows], [r["train_loss"] for r in rows]
    spikes = divergence.spikes(steps, losses, max_iters)
    diverged = divergence.diverged(steps, losses, max_iters)
    return [r | {"spike": s, "diverged": diverged} for r, s in zip(rows, spikes, strict=True)]


def prepare(run: dict, threads: int) -> torch.device:
    torch.set_num_threads(threads)
    set_fp32_mode(run["precision"])
    return resolve_device(run["device"])


def train(run: dict, data_dir, rates: list[float], metrics_path, checkpoint_paths: dict, work_dir, threads=1) -> None:
    """Run one training job end to end and publish its metrics and checkpoints."""
    device = prepare(run, threads)
    log.info("run %s on %s (%d threads): %s", run["run_id"], device, threads, json.dumps(run))
    with phase("setup"):
        trainer = LLMTrainer(run, data_dir, work_dir, device, rates)
    rows = fit_or_save(trainer, work_dir)
    with phase("write"):
        for step, path in checkpoint_paths.items():
            link_or_copy(trainer.checkpoint_path(step), path)
        tables.write(tables.to_table(rows, tables.LLM_TRAIN), tables.LLM_TRAIN, metrics_path)
        shutil.rmtree(work_dir, ignore_errors=True)


def finetune_settings(run: dict, ft: dict, from_step: int) -> dict:
    """The fine-tuning of ``run`` from its checkpoint at ``from_step``: ft['iters'] iterations at the constant
    rate ft['lr'] with weight decay ft['wd'], evaluated every ft['eval_every'], its own batch stream."""
    return run | {
        "lr": ft["lr"],
        "wd": ft["wd"],
        "l2": 0.0,
        "schedule": "constant",
        "max_iters": ft["iters"],
        "eval_every": ft["eval_every"],
        "checkpoints": [],
        "seed": run["seed"] * 100_003 + from_step,
    }


def finetune(run: dict, ft: dict, from_step: int, checkpoint, data_dir, metrics_path, work_dir, threads=1) -> None:
    """Fine-tune the iterate of ``checkpoint`` at a tiny constant rate and publish its loss curve. Adam's moments
    are carried over from the checkpoint when ft['keep_optimizer'] (the authors' resume did so)."""
    device = prepare(run, threads)
    state = checkpoints.load(checkpoint, f"the training job of run {run['run_id']}, rule train_{run['family']}", device)
    if state["step"] != from_step and not state["halted"]:
        raise ValueError(f"{checkpoint}: holds iteration {state['step']}, expected {from_step}")
    settings = finetune_settings(run, ft, from_step)
    log.info("fine-tuning %s from iteration %d: %s", run["run_id"], from_step, json.dumps(ft))
    rates = [ft["lr"]] * ft["iters"]
    with phase("setup"):
        trainer = LLMTrainer(
            settings, data_dir, work_dir, device, rates, init=state, keep_optimizer=ft["keep_optimizer"]
        )
    trained = fit_or_save(trainer, work_dir)
    ids = {k: run[k] for k in ID_COLUMNS} | {"code_version": code_version()}
    extra = {"from_step": from_step, "ft_lr": ft["lr"], "ft_wd": ft["wd"], "ft_iters": ft["iters"]}
    rows = [
        ids | extra | {"step": r["step"], "train_loss": r["train_loss"], "val_loss": r["val_loss"]} for r in trained
    ]
    with phase("write"):
        tables.write(tables.to_table(rows, tables.LLM_FINETUNE), tables.LLM_FINETUNE, metrics_path)
        shutil.rmtree(work_dir, ignore_errors=True)
