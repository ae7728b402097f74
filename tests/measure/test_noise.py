"""Gradient-noise scale against a brute-force expectation over every batch, per-example gradients by a loop of
backward passes."""

import itertools

import pytest
import torch
from small_nets import tiny_net
from torch.nn import functional as F
from wdecay.measure.common import evaluating
from wdecay.measure.noise import noise_scale, noise_scale_exact

CLASSES = 3


def data(n: int, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, CLASSES, (n,), generator=g)


def per_example_grads(model, x, y) -> torch.Tensor:
    """(N, P) gradients of each example's cross-entropy, one backward pass each, eval mode, trainable params."""
    params = [p for p in model.parameters() if p.requires_grad]
    with evaluating(model):
        rows = []
        for xi, yi in zip(x, y, strict=True):
            grads = torch.autograd.grad(F.cross_entropy(model(xi[None]), yi[None]), params)
            rows.append(torch.cat([g.flatten() for g in grads]).double())
    return torch.stack(rows)


def brute_force(model, x, y, batch_size: int) -> float:
    """E_B ‖g_B − g‖² as the average over all C(N, B) batches of distinct examples."""
    grads = per_example_grads(model, x, y)
    full = grads.mean(0)
    batches = list(itertools.combinations(range(len(x)), batch_size))
    return sum((grads[list(b)].mean(0) - full).square().sum().item() for b in batches) / len(batches)


@pytest.mark.parametrize("n, batch_size", [(6, 2), (6, 1), (5, 3), (6, 6)])
def test_exact_matches_enumeration_of_all_batches(n, batch_size):
    model = tiny_net(CLASSES)
    x, y = data(n)
    expected = brute_force(model, x, y, batch_size)
    assert noise_scale_exact(model, x, y, batch_size, chunk=4) == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert model.training


def test_estimate_is_unbiased_reproducible_and_leaves_bn_alone():
    model = tiny_net(CLASSES)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = data(12)
    exact = noise_scale_exact(model, x, y, 4)
    est = noise_scale(model, x, y, batch_size=4, draws=400, seed=0, chunk=3)
    assert est.samples == 400 and abs(est.mean - exact) < 4 * est.stderr
    assert noise_scale(model, x, y, batch_size=4, draws=400, seed=0, chunk=5).mean == pytest.approx(est.mean, rel=1e-4)
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


def test_full_batch_has_no_noise():
    model = tiny_net(CLASSES)
    x, y = data(7)
    assert noise_scale_exact(model, x, y, 7) == 0.0
    assert noise_scale(model, x, y, batch_size=7, draws=3, seed=0).mean == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError):
        noise_scale(model, x, y, batch_size=8, draws=3, seed=0)
