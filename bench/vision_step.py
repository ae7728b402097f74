"""Benchmark: where a tiny vision run's time goes on the CPU. One SGD step (forward, loss, backward, fused SGD) and
one forward-only evaluation pass of wdecay.models.vision at the tiny preset's width, in the standard layout (what
training uses on CPU) and in channels-last (what training uses on CUDA), the operators that dominate a step in the
standard layout, and the evaluation pass in chunks of each ``--eval-batches`` size (channels-last, as evaluate()).

    .venv/bin/python bench/vision_step.py [--model preact_resnet18] [--width 0.125] [--size 16] [--threads 1]
        [--eval-batches 64 128 256 1000]
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from wdecay.models.vision import build_model  # noqa: E402
from wdecay.training.optim import make_sgd  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Milliseconds per call, after warm-up calls."""
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def measure(args, layout: torch.memory_format) -> tuple[float, float, object | None]:
    """(ms per step, ms per evaluation pass, the step's operator profile in the standard layout, else None)."""
    torch.manual_seed(0)
    model = build_model(args.model, 10, args.width).to(memory_format=layout)
    optimizer = make_sgd(model, 0.1, 0.01, 0.0, "all")
    x = torch.randn(args.batch, 3, args.size, args.size).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (args.batch,))
    evaluation = torch.randn(args.eval_images, 3, args.size, args.size).contiguous(memory_format=layout)

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    step_ms = timed(step, args.steps)
    profile = None
    if layout == torch.contiguous_format:  # the layout of CPU training
        with torch.profiler.profile() as profile:
            for _ in range(5):
                step()
    model.eval()
    with torch.no_grad():
        eval_ms = timed(lambda: model(evaluation), 5)
    return step_ms, eval_ms, profile


def eval_in_chunks(args, batch: int) -> float:
    """Milliseconds of one evaluation of ``--eval-images`` images, ``batch`` at a time (eval mode, no grad)."""
    torch.manual_seed(0)
    model = build_model(args.model, 10, args.width).to(memory_format=torch.channels_last).eval()
    images = torch.randn(args.eval_images, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
    chunks = images.split(batch)
    with torch.no_grad():
        return timed(lambda: [model(x) for x in chunks], 5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="preact_resnet18")
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--eval-batches", type=int, nargs="*", default=[64, 128, 256, 1000])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.model} width {args.width} at {args.size}px, batch {args.batch}, {args.threads} thread(s)")
    profiles = {}
    for name, layout in [("standard", torch.contiguous_format), ("channels-last", torch.channels_last)]:
        step_ms, eval_ms, profiles[name] = measure(args, layout)
        print(f"{name:>14}: {step_ms:.1f} ms/step, {eval_ms:.1f} ms per {args.eval_images}-image evaluation")
    print(f"evaluation of {args.eval_images} images in chunks (channels-last):")
    for batch in args.eval_batches:
        print(f"{batch:>14}: {eval_in_chunks(args, batch):.1f} ms")
    print("a step in the standard layout:")
    print(profiles["standard"].key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
