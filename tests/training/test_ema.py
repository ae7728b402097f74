import torch
from torch import nn
from wdecay.training.ema import EMA, recompute_bn_stats


def test_ema_matches_the_closed_form():
    """After t updates from w_0 with iterates w_1..w_t: ema = b^t w_0 + sum_k (1-b) b^(t-k) w_k."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    ema = EMA(model, 0.9)
    history = [[p.detach().clone() for p in model.parameters()]]
    for _ in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        ema.update()
        history.append([p.detach().clone() for p in model.parameters()])
    t, b = 5, 0.9
    for i, p in enumerate(ema.model.parameters()):
        expected = b**t * history[0][i] + sum((1 - b) * b ** (t - k) * history[k][i] for k in range(1, t + 1))
        torch.testing.assert_close(p, expected, rtol=1e-12, atol=1e-12)
    assert ema.name == "ema0.9"
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_ema_state_round_trip():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    a, b = EMA(model, 0.99), EMA(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), 0.99)
    b.load_state_dict(a.state_dict())
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)


def test_recomputed_bn_stats_are_the_data_statistics():
    """One batch holding all the data gives exactly its mean and unbiased variance; equal batches their average."""
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3).double()
    model = nn.Sequential(bn).eval()
    data = torch.randn(12, 3, 4, 4, dtype=torch.float64) * 2 + 1
    recompute_bn_stats(model, [data])
    flat = data.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(bn.running_mean, flat.mean(1))
    torch.testing.assert_close(bn.running_var, flat.var(1, unbiased=True))
    assert not model.training and bn.momentum == 0.1

    halves = [data[:6], data[6:]]
    recompute_bn_stats(model, halves)
    means = torch.stack([h.transpose(0, 1).reshape(3, -1).mean(1) for h in halves])
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    assert int(bn.num_batches_tracked) == 2


def test_recompute_leaves_models_without_batchnorm_alone():
    model = nn.Linear(2, 2)
    recompute_bn_stats(model, [torch.randn(3, 2)])  # no error, nothing to do
