"""Alignment of the Hessian, its Gauss-Newton part and the rest with the gradient-noise covariance (ICLR Fig 13, MJ7).

Over the N examples of the batches, with the model in eval mode (BatchNorm uses its running statistics, so example
i's logits f_i ∈ R^C and cross-entropy ℓ_i depend on example i alone), fp32 inputs, and θ ∈ R^P the parameters with
``requires_grad`` (flattened in ``model.parameters()`` order):

    H = ∇² (1/N) Σ_i ℓ_i                          Hessian of the mean cross-entropy
    G = (1/N) Σ_i J_iᵀ (diag(p_i) − p_i p_iᵀ) J_i  Gauss-Newton matrix; J_i = ∂f_i/∂θ, p_i = softmax(f_i)
    E = H − G = (1/N) Σ_i Σ_c (p_ic − [y_i = c]) ∇²f_ic
    Σ = (1/N) Σ_i g_i g_iᵀ − ḡ ḡᵀ                 gradient-noise covariance; g_i = ∇ℓ_i, ḡ = (1/N) Σ_i g_i

and CS_A = E_v cos(A v, Σ v) over Gaussian v ~ N(0, I_P), for A ∈ {H, G, E}. None of the matrices is formed: Hv by
double backward (the first-order graph of each batch built once for all vectors), Gv by a forward-mode jvp to the
logits, the softmax Hessian, and a vjp back, Σv from per-example gradients (torch.func), chunk by chunk.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap
from torch.nn import functional as F

from .common import Estimate, evaluating, trainable, trainable_parameters
from .hessian import batch_hvps, split
from .jacobian import default_chunk

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


def _flat(tensors) -> torch.Tensor:
    """Concatenate per-parameter tensors with a leading dimension K into (K, P)."""
    return torch.cat([t.flatten(1) for t in tensors], dim=1)


def curvature_products(model: nn.Module, batches: Batches, vectors: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"H": HVᵀ, "G": GVᵀ, "E": (H − G)Vᵀ, "S": ΣVᵀ} as (K, P) float64 rows, for the K flat vectors ``vectors``
    (K, P) over the trainable parameters (definitions in the module docstring). Per-batch products are computed in
    fp32 and accumulated in float64. The model's train/eval mode is restored afterwards."""
    params = trainable_parameters(model)
    total = sum(len(y) for _, y in batches)
    out = {k: torch.zeros(vectors.shape, dtype=torch.float64, device=vectors.device) for k in ("H", "G", "S")}
    grad_sum = torch.zeros(vectors.shape[1], dtype=torch.float64, device=vectors.device)
    with evaluating(model):
        named, constants = trainable(model)
        tangents = dict(zip(named, split(vectors, params), strict=True))
        chunk = default_chunk(named)

        def example_loss(p, xi, yi):
            return F.cross_entropy(functional_call(model, (p, constants), (xi[None],)), yi[None])

        for x, y in batches:
            x = x.float()
            # H: double backward of the batch-mean loss, weighted n_b/N
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), params, create_graph=True)
            out["H"] += batch_hvps(grads, params, vectors).double() * (len(y) / total)
            del grads

            # G: u_i = (diag(p_i) − p_i p_iᵀ) J_i v, then Σ_i J_iᵀ u_i, vectorised over the K vectors
            def logits(p, x=x):
                return functional_call(model, (p, constants), (x,))

            f, pullback = vjp(logits, named)
            jv = vmap(lambda t: jvp(logits, (named,), (t,))[1])(tangents)  # (K, n_b, C)
            prob = f.detach().softmax(-1)
            u = prob * jv - prob * (prob * jv).sum(-1, keepdim=True)
            out["G"] += _flat(vmap(pullback)(u)[0].values()).double() / total
            del f, pullback

            # Σ: Σ_i g_i (g_i·v) and Σ_i g_i from per-example gradients
            for xc, yc in zip(x.split(chunk), y.split(chunk), strict=True):
                g = _flat(vmap(grad(example_loss), in_dims=(None, 0, 0))(named, xc, yc).values())  # (n, P)
                out["S"] += ((g @ vectors.T).T @ g).double()
                grad_sum += g.double().sum(0)
    mean_grad = grad_sum / total
    out["S"] = out["S"] / total - (vectors.double() @ mean_grad)[:, None] * mean_grad
    out["E"] = out["H"] - out["G"]
    return out


def gaussian_probes(size: int, probes: int, seed: int) -> torch.Tensor:
    """(probes, size) fp32 N(0, 1) vectors from a CPU generator seeded with ``seed`` (identical on every device)."""
    return torch.randn((probes, size), generator=torch.Generator().manual_seed(seed))


def hessian_noise_alignment(model: nn.Module, batches: Batches, probes: int, seed: int) -> dict[str, Estimate]:
    """{"H", "G", "E"} → CS_A = mean over ``probes`` Gaussian vectors v (``gaussian_probes`` with ``seed``) of
    cos(A v, Σ v) (module docstring), with its standard error over the vectors. Cost: about 3 gradient passes per
    vector per batch, plus one per-example gradient pass over the data; memory about 10 × probes × P floats."""
    if probes < 1:
        raise ValueError(f"probes must be positive, got {probes}")
    params = trainable_parameters(model)
    vectors = gaussian_probes(sum(p.numel() for p in params), probes, seed).to(params[0].device)
    products = curvature_products(model, batches, vectors)
    noise = products["S"]
    return {a: Estimate.of(F.cosine_similarity(products[a], noise, dim=1)) for a in ("H", "G", "E")}
