"""Benchmark: what a stop request costs at the paper's model sizes. SLURM sends SIGTERM and kills the job
KillWait seconds later (30 s by default): the training loop must finish its current step and save the resumable
state (model, EMA, optimizer, scaler, data order) inside that window.

.venv/bin/python bench/stop_latency.py [--device cpu|cuda]

Prints, per model at full width on CIFAR-shaped data (batch 128, 32x32): the size of the saved state, the time to
write it atomically (temporary file, fsync, rename), and the time of one training step.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from wdecay.data import images
from wdecay.training import vision


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    device = torch.device(parser.parse_args().device)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        x = rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 512)
        images.save_prepared(data, {"train": (x, y), "test": (x[:128], y[:128])}, {"name": "bench"})
        for model in ("preact_resnet18", "vgg16"):
            run = dict(
                preset="bench", family="V1", run_id=model, model=model, dataset="bench", lr=0.1, wd=5e-4, seed=0,
                precision="fp32", momentum=0.9, width=1.0, epochs=1, first_decay=0.5, lr_flow=1e-3,
                batch_size=128, eval_batch_size=128, ema=[0.999], wd_params="all", checkpoints=[], eval_every=1,
                resume_every=1, device=str(device), sphere=False,
            )  # fmt: skip
            trainer = vision.VisionTrainer(run, data, Path(tmp) / model, device)
            steps = []
            batches = trainer.train.shuffled(128, trainer.generator)
            for x_batch, y_batch in batches:  # the loop body of train_epoch, timed per step
                start = time.perf_counter()
                loss = torch.nn.functional.cross_entropy(trainer.model(x_batch), y_batch)
                trainer.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                trainer.optimizer.step()
                for e in trainer.emas:
                    e.update()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                steps.append(time.perf_counter() - start)
            saves = []
            for _ in range(3):
                start = time.perf_counter()
                trainer.save(trainer.state_path)
                saves.append(time.perf_counter() - start)
            size = trainer.state_path.stat().st_size / 2**20
            print(
                f"{model:16s} state {size:6.1f} MiB, saved in {min(saves):.3f} s (best of 3); "
                f"one training step {np.median(steps[1:]):.3f} s on {device}"
            )


if __name__ == "__main__":
    main()
