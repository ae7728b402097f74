"""Hessian trace and Hessian/noise alignment against matrices formed exactly (in float64) on a model small enough."""

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev
from torch.nn import functional as F
from wdecay.measure.common import trainable_parameters
from wdecay.measure.curvature_noise import curvature_products, gaussian_probes, hessian_noise_alignment
from wdecay.measure.hessian import hessian_trace, pyhessian_trace
from wdecay.models.vision import build_model

CLASSES = 4


def tiny_net(seed: int = 0) -> nn.Module:
    """Conv-BN-ReLU-conv-BN-ReLU-pool-linear on 8x8 inputs (P = 336 trainable), BN statistics and affine parameters
    moved off their initial values, the classifier's bias frozen; left in train mode with the first BN in eval mode
    (the estimators must use eval mode and restore each module's own mode)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, CLASSES),
    )
    with torch.no_grad():
        for bn in (model[1], model[4]):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        for _ in range(3):
            model(2 * torch.randn(16, 3, 8, 8) + 1)
    model[8].bias.requires_grad_(False)
    model.train()
    model[1].eval()
    return model


def batches(sizes=(5, 3, 7), seed: int = 1, classes: int = CLASSES) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, classes, (n,), generator=g)) for n in sizes]


def exact(model: nn.Module, data) -> dict[str, torch.Tensor]:
    """H, G, E (from per-example logit Hessians, independently of H) and Σ as float64 P×P matrices over the trainable
    parameters, on a float64 copy of the model in eval mode; all examples at once (eval-mode BN is per example)."""
    model = copy.deepcopy(model).double().eval()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = trainable_parameters(model)
    constants = {n: p for n, p in model.named_parameters() if not p.requires_grad} | dict(model.named_buffers())
    theta = torch.cat([p.detach().flatten() for p in params])
    x = torch.cat([x for x, _ in data]).double()
    onehot = F.one_hot(torch.cat([y for _, y in data]), CLASSES).double()
    n = len(x)

    def logits(t):
        tensors = dict(zip(names, split_flat(t, params), strict=True))
        return functional_call(model, (tensors, constants), (x,))

    def loss(t):
        return -(onehot * logits(t).log_softmax(-1)).sum(-1).mean()

    prob = logits(theta).softmax(-1).detach()
    jac = jacrev(logits)(theta)  # (n, C, P)
    softmax_hessian = torch.diag_embed(prob) - prob[:, :, None] * prob[:, None, :]
    per_example_grads = torch.einsum("ncp,nc->np", jac, prob - onehot)
    mean_grad = per_example_grads.mean(0)
    return {
        "H": hessian(loss)(theta),
        "G": torch.einsum("ncp,ncd,ndq->pq", jac, softmax_hessian, jac) / n,
        # Σ_c w_ic ∇²f_ic = ∇² Σ_c w_ic f_ic for constant weights w = p − onehot
        "E": hessian(lambda t: (logits(t) * (prob - onehot)).sum() / n)(theta),
        "S": per_example_grads.T @ per_example_grads / n - torch.outer(mean_grad, mean_grad),
    }


def split_flat(t: torch.Tensor, params) -> list[torch.Tensor]:
    return [c.view(p.shape) for c, p in zip(t.split([p.numel() for p in params]), params, strict=True)]


@pytest.fixture(scope="module")
def setting():
    model, data = tiny_net(), batches()
    return model, data, exact(model, data)


def modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def test_reference_matrices_are_consistent(setting):
    _, _, m = setting
    assert m["H"].shape == (336, 336)
    assert torch.allclose(m["H"], m["G"] + m["E"], rtol=0, atol=1e-10 * m["H"].abs().max())  # Gauss-Newton split
    for a in ("H", "G", "E", "S"):
        assert torch.allclose(m[a], m[a].T, rtol=0, atol=1e-12 * m[a].abs().max())
    for a in ("G", "S"):
        eig = torch.linalg.eigvalsh(m[a])
        assert eig.min() > -1e-10 * eig.max()
    assert torch.linalg.eigvalsh(m["H"]).min() < -1e-3 * m["H"].abs().max()  # H is indefinite: E matters


def test_hessian_trace_is_unbiased_with_the_exact_variance(setting):
    """Within 4 standard errors of Tr H; and a Rademacher draw vᵀHv has variance 2 Σ_{i≠j} H_ij², which the
    standard error must reflect."""
    model, data, m = setting
    est = hessian_trace(model, data, probes=400, seed=0, chunk=100)
    trace = torch.trace(m["H"]).item()
    assert est.samples == 400 and 0 < est.stderr < 0.1 * abs(trace)
    assert abs(est.mean - trace) < 4 * est.stderr
    off_diagonal = m["H"] - torch.diag(torch.diag(m["H"]))
    assert est.stderr == pytest.approx((2 * off_diagonal.square().sum() / 400).sqrt().item(), rel=0.2)


def test_hessian_trace_is_reproducible_and_restores_the_model(setting):
    model, data, _ = setting
    before, state = modes(model), {k: v.clone() for k, v in model.state_dict().items()}
    est = hessian_trace(model, data, probes=20, seed=0)
    assert hessian_trace(model, data, probes=20, seed=0) == est
    assert hessian_trace(model, data, probes=20, seed=1).mean != est.mean
    for chunk in (1, 7):  # the same probes, taken one at a time (PyHessian's product) or 7 at a time
        assert hessian_trace(model, data, probes=20, seed=0, chunk=chunk).mean == pytest.approx(est.mean, rel=1e-6)
    assert modes(model) == before and modes(model)[2] is False  # the first BN stays in eval mode
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_pyhessian_takes_the_same_probes_and_restores_state(setting):
    model, data, _ = setting
    params = trainable_parameters(model)
    for p in params:
        p.grad = torch.ones_like(p)
    before, rng = modes(model), torch.get_rng_state()
    ours, theirs = hessian_trace(model, data, probes=30, seed=5), pyhessian_trace(model, data, probes=30, seed=5)
    assert theirs.samples == 30  # tol=-inf: no early stop
    assert theirs.mean == pytest.approx(ours.mean, rel=1e-5)
    assert theirs.stderr == pytest.approx(ours.stderr, rel=1e-4)  # same per-probe draws
    assert modes(model) == before and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in params)
    for p in params:
        p.grad = None


@pytest.mark.parametrize("name", ["preact_resnet18", "si_preact_resnet18"])
def test_pyhessian_agrees_on_the_paper_models(name):
    """Same per-probe draws on the real ResNets at width 1/64 (the scale-invariant one has a frozen classifier)."""
    torch.manual_seed(0)
    model = build_model(name, 3, width=1 / 64)
    with torch.no_grad():
        model(2 * torch.randn(32, 3, 8, 8) + 1)
    data = batches(sizes=(6, 4), classes=3)
    ours, theirs = hessian_trace(model, data, probes=6, seed=0, chunk=4), pyhessian_trace(model, data, 6, seed=0)
    assert theirs.mean == pytest.approx(ours.mean, rel=1e-4)
    assert theirs.stderr == pytest.approx(ours.stderr, rel=1e-3)
    assert model.training


def test_curvature_products_match_the_matrices(setting):
    model, data, m = setting
    before = modes(model)
    vectors = torch.randn(3, 336, generator=torch.Generator().manual_seed(7))
    products = curvature_products(model, data, vectors)
    for a in ("H", "G", "E", "S"):
        expected = vectors.double() @ m[a]
        error = (products[a] - expected).norm(dim=1) / expected.norm(dim=1)
        assert error.max() < 1e-5, (a, error)
    assert modes(model) == before


def test_hessian_noise_alignment_matches_the_matrices(setting):
    model, data, m = setting
    cs = hessian_noise_alignment(model, data, probes=5, seed=3)
    v = gaussian_probes(336, 5, 3).double()
    noise = v @ m["S"]
    for a in ("H", "G", "E"):
        cosines = F.cosine_similarity(v @ m[a], noise, dim=1)
        assert cs[a].samples == 5
        assert cs[a].mean == pytest.approx(cosines.mean().item(), abs=1e-5)
        assert cs[a].stderr == pytest.approx((cosines.std() / 5**0.5).item(), abs=1e-5)
    assert hessian_noise_alignment(model, data, probes=5, seed=3) == cs
