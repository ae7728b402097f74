"""Measurements taken at saved weights (checkpoints, EMAs, fine-tuned iterates): Hessian trace, Jacobian norm,
gradient-noise scale, Hessian/noise alignment, snapshot ensembles. Each estimator takes a model and a list of
(inputs, labels) batches already on the device, works in fp32 and eval mode (BatchNorm uses its running
statistics, so every example's loss depends on that example alone), and is checked in the tests against an exact
computation on a model small enough to form it.
"""

from dataclasses import dataclass

import torch


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
