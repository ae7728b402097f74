"""Benchmark: the cost of the Jacobian norm S = Σ_x ‖∂f(x)/∂θ‖²_F (MJ3) by each route, at equal standard error.

.venv/bin/python bench/jacobian_norm.py [--examples 256] [--size 16] [--classes 10 200] [--target 0.02]

Model: PreAct ResNet-18 at width 1/8, BatchNorm statistics set by train-mode passes over the data, then eval mode;
random N(0, 1) inputs. Routes, on the same model and data:
  exact    per-class per-example gradients (wdecay.measure.jacobian.jacobian_sq_norm_exact)
  jacrev   per-example torch.func.jacrev, vmapped over examples (all C gradients of a chunk at once)
  proj-vjp the library's projected estimator: per-example Rademacher output probes, one per-example gradient pass
  proj-jvp parameter-space projection Σ_x ‖J(x)v‖², one Rademacher v ∈ {±1}^P per probe shared by all examples,
           one forward-mode jvp per batch (the alternative the library does not use)
The exact routes have no error; a projection needs (relative sd of one probe / target)² probes (at least 2, for a
standard error) to reach a relative standard error of ``target``: its time is that many times its time per probe.
"""

import argparse
import math
import time
import warnings

import torch
from torch.func import functional_call, jacrev, jvp, vmap
from wdecay.measure.common import trainable
from wdecay.measure.jacobian import GRADIENT_BYTES, jacobian_sq_norm_exact, jacobian_sq_norm_projected
from wdecay.models.vision import build_model


def jacrev_sq_norm(model, batches) -> float:
    """S via the full per-example Jacobian (C × P per example), chunked so that a chunk's Jacobians fit in 1 GiB."""
    params, constants = trainable(model)
    classes = model(batches[0][0][:1]).shape[1]
    chunk = max(1, GRADIENT_BYTES // (4 * classes * sum(p.numel() for p in params.values())))

    def jac(xi):
        return jacrev(lambda p: functional_call(model, (p, constants), (xi[None],))[0])(params)

    total = 0.0
    for x, _ in batches:
        for xc in x.split(chunk):
            total += sum(j.double().square().sum().item() for j in vmap(jac)(xc).values())
    return total


def jvp_draws(model, batches, probes: int, seed: int) -> torch.Tensor:
    """(probes,) draws Σ_x ‖J(x)v‖², v Rademacher over the trainable parameters, the same v for every batch."""
    params, constants = trainable(model)
    generator = torch.Generator().manual_seed(seed)
    draws = torch.zeros(probes, dtype=torch.float64)
    for k in range(probes):
        v = {n: (2 * torch.randint(0, 2, p.shape, generator=generator) - 1).to(p) for n, p in params.items()}
        for x, _ in batches:
            _, tangent = jvp(lambda p, x=x: functional_call(model, (p, constants), (x,)), (params,), (v,))
            draws[k] += tangent.double().square().sum().item()
    return draws


def timed(fn, repeats: int):
    """(result, best wall time of up to ``repeats`` calls); stops repeating once a minute has been spent, since
    other processes on a shared machine only ever add time."""
    times, spent = [], 0.0
    while len(times) < repeats and spent < 60:
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return out, min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--probes", type=int, default=8, help="probes of proj-vjp")
    parser.add_argument("--jvp-probes", type=int, default=32, help="probes of proj-jvp")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings (within a minute)")
    parser.add_argument("--target", type=float, default=0.02, help="relative standard error of a projection")
    args = parser.parse_args()
    # torch's forward-mode AD loads its decompositions with the deprecated torch.jit.script on first use
    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
    print(f"PreAct ResNet-18 width 1/8, {args.examples} examples {args.size}x{args.size}, batches of {args.batch},")
    print(f"{torch.get_num_threads()} threads; projections timed to a relative standard error of {args.target:.0%}")
    for classes in args.classes:
        torch.manual_seed(0)
        model = build_model("preact_resnet18", classes, width=0.125)
        x = torch.randn(args.examples, 3, args.size, args.size)
        batches = [(xb, torch.zeros(len(xb), dtype=torch.long)) for xb in x.split(args.batch)]
        for m in model.modules():  # BN running statistics of this data (cumulative average), then eval mode
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        with torch.no_grad():
            for xb, _ in batches:
                model(xb)
        model.eval()
        warm = [(x[:2], None)]  # first calls pay for tracing and allocation
        jacobian_sq_norm_exact(model, warm), jacrev_sq_norm(model, warm)
        jacobian_sq_norm_projected(model, warm, 2, seed=0), jvp_draws(model, warm, 2, seed=0)
        r = args.repeats
        exact, t_exact = timed(lambda: jacobian_sq_norm_exact(model, batches), r)  # noqa: B023
        rev, t_rev = timed(lambda: jacrev_sq_norm(model, batches), r)  # noqa: B023
        proj, t_proj = timed(lambda: jacobian_sq_norm_projected(model, batches, args.probes, seed=0), r)  # noqa: B023
        fwd, t_fwd = timed(lambda: jvp_draws(model, batches, args.jvp_probes, seed=0), r)  # noqa: B023
        rows = [("exact", exact, 0.0, None, t_exact), ("jacrev", rev, 0.0, None, t_rev)]
        for name, mean, sd, probes, seconds in (
            ("proj-vjp", proj.mean, proj.stderr * math.sqrt(proj.samples), proj.samples, t_proj),
            ("proj-jvp", fwd.mean().item(), fwd.std().item(), args.jvp_probes, t_fwd),
        ):
            need = max(2, math.ceil((sd / mean / args.target) ** 2))
            rows.append((f"{name} ({need} probes)", mean, sd / mean, need, seconds / probes * need))
        print(f"\n{classes} classes, P = {sum(p.numel() for p in trainable(model)[0].values())}, exact S = {exact:.6g}")
        print(f"{'route':24s} {'S':>12s} {'rel sd/probe':>13s} {'s/probe':>8s} {'seconds':>9s} {'vs exact':>9s}")
        for name, mean, rel_sd, need, seconds in rows:
            per_probe = f"{seconds / need:8.3f}" if need else f"{'':8s}"
            print(f"{name:24s} {mean:12.6g} {rel_sd:13.3f} {per_probe} {seconds:9.2f} {seconds / t_exact:9.3f}")
        assert abs(rev - exact) <= 1e-5 * exact, (rev, exact)


if __name__ == "__main__":
    main()
