"""Trace of the Hessian of the training loss by Hutchinson's estimator (MJ2).

The loss is the mean cross-entropy over all N examples of the batches, L(θ) = (1/N) Σ_i ℓ_i(θ), under the model
in eval mode (BatchNorm uses its running statistics, so ℓ_i depends on example i alone) and in fp32 (inputs are
cast with ``.float()``); θ are the parameters with ``requires_grad`` (frozen ones, such as the fixed classifier of
the scale-invariant ResNet, are constants). With batches b of n_b examples and batch-mean losses L_b,
∇²L = Σ_b (n_b/N) ∇²L_b, and for a Rademacher probe v ∈ {±1}^P one draw is vᵀ∇²L v = Σ_b (n_b/N) vᵀ∇²L_b v, the
same v in every batch; E[vvᵀ] = I makes it unbiased for Tr ∇²L.

``hessian_trace`` is PyHessian's estimator (same probes, same loss, same batch weights) without its cost: PyHessian
builds the first-order graph of every batch again for every probe, whereas here each batch's graph is built once and
the Hessian-vector products of all probes are taken from it (one at a time on CPU, vectorised over chunks of probes
on CUDA): 1.3-1.7 times faster at equal standard error on a PreAct ResNet-18 (bench/hessian_trace.py), since the
double backward of each probe, about 2.5 times the cost of the graph it reuses, remains. ``pyhessian_trace`` runs
PyHessian itself and is the baseline of the benchmark and an oracle of the tests.
"""

import math
import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import torch
from pyhessian import hessian as PyHessian
from pyhessian.utils import hessian_vector_product
from torch import nn
from torch.nn import functional as F

from .common import Estimate, evaluating, trainable_parameters

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
CHUNK = 32  # default probes per vectorised double backward on CUDA: beyond a few dozen the gain is spent, memory not


def split(flat: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    """(K, P) flat vectors as a list of (K, *p.shape) tensors, one per parameter."""
    chunks = flat.split([p.numel() for p in params], dim=1)
    return [c.reshape(len(flat), *p.shape) for c, p in zip(chunks, params, strict=True)]


def batch_hvps(grads: Sequence[torch.Tensor], params: list[nn.Parameter], vectors: torch.Tensor) -> torch.Tensor:
    """(K, P) Hessian-vector products H v_k from a first-order graph ``grads`` (the gradient of a loss with respect to
    ``params``, taken with create_graph=True), for the K flat vectors (K, P): one double backward vectorised over
    the vectors (autograd's ``is_grads_batched``), or for K = 1 PyHessian's plain one (``hessian_vector_product``,
    without vmap's overhead). Keeps the graph, so it can be called again for more vectors."""
    outputs = split(vectors, params)
    # a gradient that is constant in θ (no second-order dependence) has no graph: its rows of H are zero
    pairs = [(g, v) for g, v in zip(grads, outputs, strict=True) if g.requires_grad]
    gs, vs = [g for g, _ in pairs], [v for _, v in pairs]
    if len(vectors) == 1 and len(pairs) == len(params):
        return torch.cat([h.flatten() for h in hessian_vector_product(gs, params, [v[0] for v in vs])])[None]
    hv = torch.autograd.grad(
        gs, params, grad_outputs=vs, retain_graph=True, is_grads_batched=True, materialize_grads=True
    )
    return torch.cat([h.flatten(1) for h in hv], dim=1)


def rademacher_signs(probes: int, size: int, seed: int) -> torch.Tensor:
    """(probes, size) int8 signs ±1, probe after probe from a CPU generator seeded with ``seed``. The draw is
    ``randint(0, 2)`` mapped 0 → −1, PyHessian's, so on CPU these are exactly the probes of
    ``pyhessian_trace`` with the same seed (its per-parameter ``randint_like`` calls read the same stream)."""
    signs = torch.randint(0, 2, (probes, size), generator=torch.Generator().manual_seed(seed), dtype=torch.int8)
    return 2 * signs - 1


def hessian_trace(model: nn.Module, batches: Batches, probes: int, seed: int, chunk: int | None = None) -> Estimate:
    """Hutchinson estimate of Tr ∇²L (see the module docstring) from ``probes`` Rademacher probes, seeded by
    ``seed`` (``rademacher_signs``: identical on CPU and GPU). Samples are the per-probe draws Σ_b (n_b/N) vᵀ∇²L_b v,
    accumulated in float64; mean and standard error over probes.

    Each batch's gradient graph (create_graph) is built once; its Hessian-vector products are taken ``chunk``
    probes at a time from that graph: by default ``CHUNK`` at a time on CUDA, where vectorising over probes pays, and
    one at a time on CPU, where it gains little and costs memory bandwidth (bench/hessian_trace.py). Memory: the
    probe signs (probes × P bytes) on the device, plus about ``chunk`` times a batch's activations for the vectorised
    double backward (about 0.3 GiB per probe for the full-width ResNet-18 at batch 50 on 32x32). Drawing the probes
    on the CPU costs about 5 ns per sign. The model's train/eval mode is restored afterwards; BatchNorm statistics
    and ``.grad`` are left untouched."""
    if probes < 1:
        raise ValueError(f"probes must be positive, got {probes}")
    params = trainable_parameters(model)
    chunk = min(chunk or (CHUNK if params[0].device.type == "cuda" else 1), probes)
    total = sum(len(y) for _, y in batches)
    draws = torch.zeros(probes, dtype=torch.float64)
    with evaluating(model):
        signs = rademacher_signs(probes, sum(p.numel() for p in params), seed).to(params[0].device)
        for x, y in batches:
            loss = F.cross_entropy(model(x.float()), y)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            for start in range(0, probes, chunk):
                v = signs[start : start + chunk].to(params[0].dtype)
                vhv = (v * batch_hvps(grads, params, v)).double().sum(1)
                draws[start : start + chunk] += (len(y) / total) * vhv.cpu()
            del loss, grads  # frees this batch's graph before the next one is built
    return Estimate.of(draws)


@contextmanager
def _kept_grads(params: list[nn.Parameter]):
    """Restore each parameter's ``.grad`` afterwards (PyHessian zeroes and overwrites them)."""
    saved = [p.grad for p in params]
    try:
        yield
    finally:
        for p, g in zip(params, saved, strict=True):
            p.grad = g


def pyhessian_trace(model: nn.Module, batches: Batches, probes: int, seed: int) -> Estimate:
    """Tr ∇²L by PyHessian 0.1 itself: ``hessian(model, CrossEntropyLoss(), dataloader=batches).trace(probes)``,
    the baseline of ``hessian_trace``. Same loss, eval mode, fp32 inputs and parameters as ``hessian_trace``.

    PyHessian 0.1 (the PyPI release) differs from ``hessian_trace`` in these ways, all handled or harmless:
    - its stopping test ``|mean_k − mean_{k−1}| / (mean_{k−1} + 1e-6) < tol`` lacks abs() in the denominator, so a
      negative running mean stops it at once, and a loose tol stops it after a few probes: ``tol=-inf`` forces
      exactly ``probes`` probes (no ratio, not even ±inf or NaN, is below −inf);
    - for each probe it rebuilds every batch's graph (forward, backward with create_graph, double backward) and
      averages the batch Hessian-vector products with weights n_b/N in fp32 before one dot product vᵀ(Σ_b ...):
      the same quantity as Σ_b (n_b/N) vᵀ∇²L_b v, up to fp32 rounding;
    - it draws the probes with ``randint_like`` from torch's global RNG of the model's device, seeded here with
      ``seed`` (the caller's RNG state is restored): on CPU they equal ``hessian_trace``'s probes for the same seed,
      on CUDA they come from the CUDA generator and differ;
    - it leaves the model in eval mode and its ``.grad`` cleared: both are restored here.
    """
    if probes < 1:
        raise ValueError(f"probes must be positive, got {probes}")
    params = trainable_parameters(model)
    cuda = params[0].device.type == "cuda"
    data = [(x.float(), y) for x, y in batches]
    with evaluating(model), _kept_grads(params), torch.random.fork_rng(devices=[params[0].device] if cuda else []):
        torch.manual_seed(seed)
        with warnings.catch_warnings():  # backward(create_graph=True) into .grad; PyHessian clears .grad after each
            warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
            draws = PyHessian(model, nn.CrossEntropyLoss(), dataloader=data, cuda=cuda).trace(probes, tol=-math.inf)
    return Estimate.of(torch.tensor(draws, dtype=torch.float64))
