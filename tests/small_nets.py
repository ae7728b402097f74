"""A network and batches small enough to form Jacobians, Hessians and per-example gradients exactly: shared by the
measurement tests."""

import torch
from torch import nn

CLASSES = 4


def tiny_net(classes: int = CLASSES, seed: int = 0) -> nn.Module:
    """Conv-BN-ReLU-pool-linear on 8x8 inputs, BN statistics moved off their initial values, one frozen parameter,
    left in train mode (the estimators must switch to eval mode and back)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, classes),
    )
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
        for _ in range(3):
            model(2 * torch.randn(16, 3, 8, 8) + 1)
    model[5].bias.requires_grad_(False)
    return model.train()


def batches(sizes=(5, 3, 7), seed: int = 1, classes: int = CLASSES) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 3, 8, 8, generator=g), torch.randint(0, classes, (n,), generator=g)) for n in sizes]
