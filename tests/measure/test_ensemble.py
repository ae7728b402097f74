"""Snapshot ensemble against the EMA on models whose softmax outputs are known by hand."""

import math

import pytest
import torch
from small_nets import batches, tiny_net
from torch import nn
from wdecay.measure.ensemble import ensemble_vs_ema, softmax_outputs


def constant(logits: list[float]) -> nn.Module:
    """A model whose logits are ``logits`` for every input (zero weights, bias = logits), in train mode."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, len(logits)))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor(logits))
    return model.train()


def test_hand_checked_errors_and_tvd():
    a, b = constant([math.log(2), 0.0]), constant([0.0, math.log(3)])  # p = (2/3, 1/3) and (1/4, 3/4)
    ema = constant([math.log(4), 0.0])  # p = (4/5, 1/5)
    data = [(torch.randn(2, 2), torch.tensor([0, 1])), (torch.randn(1, 2), torch.tensor([1]))]
    out = ensemble_vs_ema([a, b], ema, data)
    # ensemble p = (11/24, 13/24) predicts class 1; the EMA and snapshot a predict 0, snapshot b predicts 1
    assert out == pytest.approx(
        {"ensemble_error": 1 / 3, "ema_error": 2 / 3, "snapshot_error": 1 / 2, "tvd": 4 / 5 - 11 / 24}
    )
    assert all(m.training for m in (a, b, ema))


def test_identical_models_and_single_snapshot():
    model, data = tiny_net(), batches()
    probs = softmax_outputs(model, data)
    assert probs.shape == (15, 4) and probs.dtype == torch.float32 and model.training
    assert torch.allclose(probs.sum(1), torch.ones(15))
    out = ensemble_vs_ema([model], model, data)
    y = torch.cat([y for _, y in data])
    assert out["tvd"] == 0.0
    assert out["ensemble_error"] == out["snapshot_error"] == out["ema_error"]
    assert out["ema_error"] == (probs.argmax(1) != y).double().mean().item()
    assert ensemble_vs_ema([model, model, model], model, data)["tvd"] == pytest.approx(0.0, abs=1e-7)
