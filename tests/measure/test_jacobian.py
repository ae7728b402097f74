"""Jacobian-norm estimators against the Jacobian formed example by example with one backward pass per logit."""

import pytest
import torch
from small_nets import CLASSES, batches, tiny_net
from torch import nn
from wdecay.measure.common import evaluating
from wdecay.measure.jacobian import jacobian_sq_norm_exact, jacobian_sq_norm_projected


def reference_sq_norm(model: nn.Module, data) -> float:
    """Σ_x Σ_c ‖∂f_c(x)/∂θ‖² with a backward pass per example and logit, eval mode, trainable parameters only."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = 0.0
    with evaluating(model):
        for x, _ in data:
            for xi in x:
                out = model(xi[None])[0]
                for c in range(len(out)):
                    grads = torch.autograd.grad(out[c], params, retain_graph=True)
                    total += sum(g.double().square().sum().item() for g in grads)
    return total


def test_exact_matches_reference_and_restores_mode():
    model, data = tiny_net(), batches()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    expected = reference_sq_norm(model, data)
    assert jacobian_sq_norm_exact(model, data) == pytest.approx(expected, rel=1e-5)
    assert jacobian_sq_norm_exact(model, data, chunk=2) == pytest.approx(expected, rel=1e-5)
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():  # eval mode: the BN running statistics were not updated
        assert torch.equal(v, state[k])


def test_exact_counts_only_trainable_parameters():
    model, data = tiny_net(), batches()
    frozen_bias_part = sum(len(x) for x, _ in data) * CLASSES  # ∂f_c/∂b = e_c: ‖·‖² = 1 per logit
    with_bias = jacobian_sq_norm_exact(model, data)
    model[5].bias.requires_grad_(True)
    assert jacobian_sq_norm_exact(model, data) == pytest.approx(with_bias + frozen_bias_part, rel=1e-5)


def test_eval_mode_submodules_keep_their_own_mode():
    model, data = tiny_net(), batches()
    model[1].eval()
    jacobian_sq_norm_projected(model, data, probes=2, seed=0)
    assert model.training and not model[1].training and model[0].training


def test_projected_is_unbiased_and_reproducible():
    model, data = tiny_net(), batches()
    exact = jacobian_sq_norm_exact(model, data)
    est = jacobian_sq_norm_projected(model, data, probes=400, seed=3)
    assert est.samples == 400 and est.stderr > 0
    assert abs(est.mean - exact) < 4 * est.stderr
    assert jacobian_sq_norm_projected(model, data, probes=400, seed=3) == est
    assert jacobian_sq_norm_projected(model, data, probes=400, seed=4).mean != est.mean
    few = jacobian_sq_norm_projected(model, data, probes=20, seed=3)
    assert jacobian_sq_norm_projected(model, data, probes=20, seed=3, chunk=2).mean == pytest.approx(few.mean)
    assert model.training
