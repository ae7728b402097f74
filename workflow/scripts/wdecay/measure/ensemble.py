"""Snapshot ensemble against the EMA (MJ6): test errors, and the total variation distance between their softmax
outputs, TVD = mean_x ½ ‖p_ens(x) − p_ema(x)‖₁, where p_ens is the mean of the snapshots' softmax outputs. All
models are evaluated in eval mode (BatchNorm running statistics) and fp32; a prediction is the argmax (first
index on ties) and an error is the fraction of examples whose prediction differs from the label.
"""

from collections.abc import Iterable

import torch
from torch import nn

from .common import evaluating


@torch.no_grad()
def softmax_outputs(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """(N, C) softmax probabilities of ``model`` (eval mode, fp32) on the examples of the batches, in order."""
    with evaluating(model):
        return torch.cat([model(x).float().softmax(dim=1) for x, _ in batches])


def ensemble_vs_ema(snapshots: list[nn.Module], ema: nn.Module, batches: list) -> dict[str, float]:
    """{'ensemble_error', 'ema_error', 'snapshot_error' (mean over the snapshots), 'tvd'} on the batches."""
    if not snapshots:
        raise ValueError("no snapshots")
    y = torch.cat([y for _, y in batches])

    def error(p: torch.Tensor) -> float:
        return (p.argmax(dim=1) != y).double().mean().item()

    p_ens, snapshot_errors = 0.0, []
    for model in snapshots:
        p = softmax_outputs(model, batches)
        p_ens, snapshot_errors = p_ens + p / len(snapshots), snapshot_errors + [error(p)]
    p_ema = softmax_outputs(ema, batches)
    return {
        "ensemble_error": error(p_ens),
        "ema_error": error(p_ema),
        "snapshot_error": sum(snapshot_errors) / len(snapshots),
        "tvd": 0.5 * (p_ens - p_ema).abs().sum(dim=1).double().mean().item(),
    }
