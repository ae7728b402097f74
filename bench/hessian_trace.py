"""Benchmark: the Hessian trace (MJ2) by PyHessian and by the library's estimator, at equal standard error.

.venv/bin/python bench/hessian_trace.py [--device cpu|cuda] [--settings 0.125x16 0.125x32] [--probes 20]

Model: PreAct ResNet-18 (10 classes) at each WIDTHxSIZE setting, on ``--examples`` random N(0, 1) inputs of
SIZExSIZE in batches of ``--batch`` with random labels, after one epoch of SGD on them (so the point is not the
initialisation) and BatchNorm statistics set by a train-mode pass over them; then eval mode. Routes, on the same model,
data and seed:
  pyhessian  PyHessian 0.1's own loop (wdecay.measure.hessian.pyhessian_trace): every probe rebuilds every batch's
             first-order graph
  reuse      hessian_trace with chunk=1: each batch's graph built once, then one double backward per probe
  vmap       hessian_trace with all probes in one chunk: each batch's graph built once, then one double backward
             vectorised over the probes
All three are Hutchinson's estimator with Rademacher probes from the same seed, so one probe's draw has the same
distribution (on CPU the probe vectors are the very same, hence the draws; on CUDA PyHessian draws its own from the
CUDA generator, and the sd/probe columns differ by sampling error only): equal standard error means equal probe
count, and the speed-up at equal standard error is PyHessian's time over the route's for the same probes. The
routes' own time includes drawing the probes.
"""

import argparse
import math
import time

import torch
from torch.nn import functional as F
from wdecay.device import set_fp32_mode
from wdecay.measure.common import trainable_parameters
from wdecay.measure.hessian import hessian_trace, pyhessian_trace
from wdecay.models.vision import build_model


def setup(width: float, size: int, examples: int, batch: int, device: torch.device):
    """A PreAct ResNet-18 after one SGD epoch on random data, with BN statistics of that data, in eval mode."""
    torch.manual_seed(0)
    model = build_model("preact_resnet18", 10, width=width).to(device)
    x = torch.randn(examples, 3, size, size, device=device)
    y = torch.randint(0, 10, (examples,), device=device)
    batches = list(zip(x.split(batch), y.split(batch), strict=True))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for xb, yb in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    for m in model.modules():  # BN running statistics of this data (cumulative average)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for xb, _ in batches:
            model(xb)
    return model.eval(), batches


def timed(fn, device: torch.device, repeats: int):
    """(result, best wall time of ``repeats`` calls): other processes on a shared machine only ever add time."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return out, min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", default=["0.125x16", "0.125x32"], help="WIDTHxSIZE")
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many timings")
    args = parser.parse_args()
    device = torch.device(args.device)
    set_fp32_mode("fp32")  # strict IEEE fp32: no TF32 convolutions or matmuls on CUDA
    print(f"PreAct ResNet-18, {args.examples} examples in batches of {args.batch}, {args.probes} probes, seed 0,")
    print(f"{device}, {torch.get_num_threads()} threads; best of {args.repeats}")
    for setting in args.settings:
        width, size = setting.split("x")
        model, batches = setup(float(width), int(size), args.examples, args.batch, device)
        params = sum(p.numel() for p in trainable_parameters(model))
        routes = {
            "pyhessian": lambda b, k: pyhessian_trace(model, b, k, seed=0),  # noqa: B023
            "reuse (chunk 1)": lambda b, k: hessian_trace(model, b, k, seed=0, chunk=1),  # noqa: B023
            f"vmap (chunk {args.probes})": lambda b, k: hessian_trace(model, b, k, seed=0, chunk=k),  # noqa: B023
        }
        rows = []
        for name, route in routes.items():
            route(batches[:1], 2)  # first calls pay for allocation and lazy initialisation
            est, seconds = timed(lambda r=route, b=batches: r(b, args.probes), device, args.repeats)
            rows.append((name, est, seconds))
        _, base, base_seconds = rows[0]
        print(f"\nwidth {width}, {size}x{size} inputs, P = {params}")
        header = f"{'route':16s} {'trace':>10s} {'stderr':>9s} {'sd/probe':>9s} {'s/probe':>8s} {'seconds':>8s}"
        print(f"{header} {'speed-up at equal SE':>20s}")
        for name, est, seconds in rows:
            sd = est.stderr * math.sqrt(est.samples)
            print(
                f"{name:16s} {est.mean:10.4g} {est.stderr:9.3g} {sd:9.3g} {seconds / est.samples:8.3f} "
                f"{seconds:8.2f} {base_seconds / seconds:20.2f}"
            )
        if device.type == "cpu":  # the same probe vectors: the same draws up to fp32 rounding
            assert all(abs(est.mean - base.mean) <= 1e-4 * (abs(base.mean) + base.stderr) for _, est, _ in rows)


if __name__ == "__main__":
    main()
