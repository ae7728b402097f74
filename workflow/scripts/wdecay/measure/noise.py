"""Gradient-noise scale σ² = E_B ‖g_B − g‖² of minibatch SGD (MJ5).

ℓ_i is the cross-entropy of example i under the model in eval mode (BatchNorm uses its running statistics, so ℓ_i
depends on example i alone and the mean loss of a batch is the mean of separable per-example losses), in fp32;
gradients are taken with respect to the trainable parameters (``requires_grad``). With N examples,

    g = ∇ (1/N) Σ_i ℓ_i          (full-data gradient of the mean cross-entropy)
    g_B = ∇ (1/B) Σ_{i∈B} ℓ_i    (B a uniformly random set of ``batch_size`` distinct examples)

For sampling without replacement E_B ‖g_B − g‖² = (N − B) / (B (N − 1)) · (1/N) Σ_i ‖g_i − g‖², with g_i = ∇ℓ_i.
"""

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from .common import Estimate, evaluating, trainable


def _mean_loss_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int) -> torch.Tensor:
    """Flat gradient of the mean cross-entropy over (x, y), summed chunk by chunk (model in eval mode)."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = torch.zeros(sum(p.numel() for p in params), device=x.device, dtype=torch.float64)
    for xc, yc in zip(x.split(chunk), y.split(chunk), strict=True):
        loss = F.cross_entropy(model(xc), yc, reduction="sum")
        total += torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]).double()
    return (total / len(x)).float()


def noise_scale(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, draws: int, seed: int, chunk: int = 256
) -> Estimate:
    """Monte-Carlo estimate of σ² from ``draws`` independent batches, each ``batch_size`` distinct examples of (x, y)
    drawn uniformly (a ``randperm`` prefix from a CPU generator seeded with ``seed``); a draw is ‖g_B − g‖². The
    full gradient g is computed once, ``chunk`` examples at a time; each draw costs one gradient of a batch."""
    n = len(x)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    with evaluating(model):
        full = _mean_loss_grad(model, x, y, chunk)
        samples = []
        for _ in range(draws):
            idx = torch.randperm(n, generator=generator)[:batch_size].to(x.device)
            samples.append((_mean_loss_grad(model, x[idx], y[idx], chunk) - full).square().sum())
    return Estimate.of(torch.stack(samples))


def noise_scale_exact(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, chunk: int = 64) -> float:
    """σ² exactly, by the closed form for sampling without replacement, from the per-example gradients g_i
    (torch.func, ``chunk`` examples at a time); Σ_i ‖g_i − g‖² is summed directly, not as Σ‖g_i‖² − N‖g‖²."""
    n = len(x)
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    with evaluating(model):
        full = _mean_loss_grad(model, x, y, chunk)
        params, constants = trainable(model)

        def loss(p, xi, yi):
            return F.cross_entropy(functional_call(model, (p, constants), (xi[None],)), yi[None])

        spread = 0.0
        for xc, yc in zip(x.split(chunk), y.split(chunk), strict=True):
            per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, xc, yc)
            flat = torch.cat([g.flatten(1) for g in per_example.values()], dim=1)
            spread += (flat - full).double().square().sum().item()
    return (n - batch_size) / (batch_size * (n - 1)) * spread / n if n > 1 else 0.0
