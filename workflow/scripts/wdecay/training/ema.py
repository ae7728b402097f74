"""Exponential moving averages of the weights, updated every step.

Only parameters are averaged: BatchNorm running statistics of an average of weights are not the average of the
running statistics, so ``recompute_bn_stats`` re-estimates them for the averaged weights (one forward pass over
the training set in train mode, equal weight per batch) before each evaluation, as the authors' bn_update did.
"""

import copy

import torch
from torch import nn


class EMA:
    """w_ema <- coef * w_ema + (1 - coef) * w after every step, held in a shadow copy of the model."""

    def __init__(self, model: nn.Module, coef: float):
        self.coef = coef
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._avg = list(self.model.parameters())
        self._src = list(model.parameters())

    @property
    def name(self) -> str:
        return f"ema{self.coef:g}"

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self._avg, self._src, 1.0 - self.coef)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches) -> None:
    """Replace every BatchNorm's running statistics by their average over ``batches`` (an iterable of inputs)."""
    bns = batchnorms(model)
    if not bns:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
    was_training = model.training
    model.train()
    for x in batches:
        model(x)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
    model.train(was_training)
