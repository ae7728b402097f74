import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from wdecay.models.vision import build_model
from wdecay.training.optim import decay_groups, make_sgd, squared_norm, step_lr


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))


def test_decay_policies():
    net = small_net()
    everything = decay_groups(net, "all")
    assert [n for n, _ in everything["decay"]] == [n for n, _ in net.named_parameters()]
    assert everything["no_decay"] == []
    weights = decay_groups(net, "weights")
    assert [n for n, _ in weights["decay"]] == ["0.weight", "4.weight"]
    assert [n for n, _ in weights["no_decay"]] == ["0.bias", "1.weight", "1.bias", "4.bias"]
    with pytest.raises(ValueError, match="everything"):
        decay_groups(net, "everything")


@pytest.mark.parametrize("policy", ["all", "weights"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_coupled_weight_decay_is_sgd_on_the_l2_regularised_loss(policy, momentum):
    """Steps with weight_decay=wd equal steps on loss + wd/2 * ||w_decay||^2 without weight decay."""
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 5, (8,))
    lr, wd = 0.05, 0.1
    net_a, net_b = small_net().double(), small_net().double()
    opt_a = make_sgd(net_a, lr, wd, momentum, policy)
    opt_b = make_sgd(net_b, lr, 0.0, momentum, policy)
    decayed_b = [p for _, p in decay_groups(net_b, policy)["decay"]]
    for _ in range(3):
        opt_a.zero_grad()
        F.cross_entropy(net_a(x.double()), y).backward()
        opt_a.step()
        opt_b.zero_grad()
        loss = F.cross_entropy(net_b(x.double()), y) + wd / 2 * sum((p**2).sum() for p in decayed_b)
        loss.backward()
        opt_b.step()
    for pa, pb in zip(net_a.parameters(), net_b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-12, atol=1e-12)


def test_plain_sgd_update_by_hand():
    net = small_net()
    before = copy.deepcopy(net)
    opt = make_sgd(net, lr=0.1, wd=0.01, momentum=0.0, policy="all")
    opt.zero_grad()
    F.cross_entropy(net(torch.randn(4, 3, 8, 8)), torch.tensor([0, 1, 2, 3])).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.step()
    for p0, p1, g in zip(before.parameters(), net.parameters(), grads, strict=True):
        torch.testing.assert_close(p1, p0 - 0.1 * (g + 0.01 * p0))


def test_step_schedule():
    assert [step_lr(e, 0.1, 1e-4, decay_epoch=3) for e in range(1, 6)] == [0.1, 0.1, 0.1, 1e-4, 1e-4]


def test_squared_norm_is_exact():
    params = list(build_model("preact_resnet18", 10, 0.0625).parameters())
    exact = sum(float((p.detach().double() ** 2).sum()) for p in params)
    assert float(squared_norm(params)) == pytest.approx(exact, rel=1e-5)
    assert float(squared_norm([])) == 0.0
