"""What every measurement shares: the Estimate it returns, eval mode for the duration of a measure, and the
trainable parameters (as a list, the order of a flat vector, or as dicts for ``functional_call``)."""

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate: the mean of ``samples`` independent draws and its standard error."""

    mean: float
    stderr: float
    samples: int

    @classmethod
    def of(cls, draws: torch.Tensor) -> "Estimate":
        """From a 1-d tensor of i.i.d. draws (the standard error is NaN for a single draw)."""
        draws = draws.detach().double().flatten()
        n = draws.numel()
        stderr = (draws.std(unbiased=True) / n**0.5).item() if n > 1 else float("nan")
        return cls(mean=draws.mean().item(), stderr=stderr, samples=n)


@contextmanager
def evaluating(*models: nn.Module):
    """Put every module of ``models`` in eval mode, and restore each module's own mode afterwards."""
    modes = [(m, m.training) for model in models for m in model.modules()]
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def trainable(model: nn.Module) -> tuple[dict, dict]:
    """({name: trainable parameter}, {name: frozen parameter or buffer}), detached, for ``functional_call``."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    constants = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    return params, constants | dict(model.named_buffers())


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters with ``requires_grad``, in ``model.parameters()`` order: the order of a flat vector of P."""
    return [p for p in model.parameters() if p.requires_grad]
