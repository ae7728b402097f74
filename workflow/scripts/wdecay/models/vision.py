"""Vision models of the paper: VGG16 without BatchNorm, PreAct ResNet-18/34 with CIFAR stems, and the
scale-invariant PreAct ResNet-18 trained on the sphere (ICLR Fig 2).

All models take any number of classes and any input size of at least 32x32 (adaptive pooling before the
classifier), and a width multiplier that scales every channel count (the tiny preset uses 1/8).

Initialisation: the paper states He initialisation for all parameters, but the authors' code never applied it to
the ResNets (they kept PyTorch's default) and applied it to VGG's convolutions only. We do what the paper says:
He-normal (fan-in, ReLU gain) for every convolution and linear weight, zero biases, BatchNorm gains 1 and shifts 0.
"""

import torch
from torch import nn
from torch.nn import functional as F

MODELS = ("vgg16", "preact_resnet18", "preact_resnet34", "si_preact_resnet18")


def scaled(channels: int, width: float) -> int:
    """Channel count after the width multiplier (never below 1)."""
    return max(1, round(channels * width))


def he_init(model: nn.Module) -> nn.Module:
    """He-normal weights for every conv/linear layer, zero biases, identity BatchNorm."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


class VGG16(nn.Module):
    """VGG16 (configuration D) without BatchNorm, with biases, and a 3-layer classifier as in the authors' code."""

    STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

    def __init__(self, n_classes: int, width: float = 1.0):
        super().__init__()
        layers, c_in = [], 3
        for channels, n_convs in self.STAGES:
            c_out = scaled(channels, width)
            for _ in range(n_convs):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # identity at 32x32, where five poolings leave 1x1
        self.classifier = nn.Sequential(
            nn.Linear(c_in, c_in),
            nn.ReLU(inplace=True),
            nn.Linear(c_in, c_in),
            nn.ReLU(inplace=True),
            nn.Linear(c_in, n_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class PreActBlock(nn.Module):
    """Pre-activation basic block; the projection shortcut takes the pre-activated input."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """PreAct ResNet with a CIFAR stem (3x3 conv, no max-pool), a BatchNorm on the input as in the authors' code,
    learnable BatchNorm everywhere, a final BN-ReLU, adaptive average pooling and a linear classifier."""

    block = PreActBlock
    affine = True  # of every BatchNorm outside the blocks

    def __init__(self, blocks: tuple[int, ...], n_classes: int, width: float = 1.0):
        super().__init__()
        c = scaled(64, width)
        self.bn_in = nn.BatchNorm2d(3, affine=self.affine)
        self.conv1 = self.stem(c)
        stages, c_in = [], c
        for i, n in enumerate(blocks):
            c_out = scaled(64 * 2**i, width)
            for j in range(n):
                stages.append(self.block(c_in, c_out, stride=2 if (i > 0 and j == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*stages)
        self.bn_out = nn.BatchNorm2d(c_in, affine=self.affine)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(c_in, n_classes)

    def stem(self, c: int) -> nn.Module:
        return nn.Conv2d(3, c, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.blocks(self.conv1(self.bn_in(x)))
        out = self.pool(F.relu(self.bn_out(out)))
        return self.linear(torch.flatten(out, 1))


class SIPreActBlock(nn.Module):
    """A pre-activation block whose output does not change when any of its convolution weights is scaled: the
    residual branch and the projection shortcut each end in a BatchNorm without affine parameters."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, affine=False)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, affine=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out, affine=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out, affine=False)
            )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.bn3(self.conv2(F.relu(self.bn2(self.conv1(out)))))
        return out + skip


class SIPreActResNet(PreActResNet):
    """Scale-invariant PreAct ResNet (after Li, Lyu and Arora 2020): BatchNorms without affine parameters, a
    BatchNorm after the stem and at the end of every residual branch and projection shortcut (so the inputs of
    every sum are normalised), and a fixed random classifier. The training loss is then invariant to scaling any
    convolution weight, and every trainable parameter is such a weight: projected SGD keeps them on the sphere."""

    block = SIPreActBlock
    affine = False

    def __init__(self, blocks: tuple[int, ...], n_classes: int, width: float = 1.0):
        super().__init__(blocks, n_classes, width)
        self.linear.requires_grad_(False)

    def stem(self, c: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, affine=False))


def build_model(name: str, n_classes: int, width: float = 1.0) -> nn.Module:
    """Build a He-initialised model by name (one of MODELS). Seed the RNG before calling for reproducible weights."""
    if name == "vgg16":
        model = VGG16(n_classes, width)
    elif name == "preact_resnet18":
        model = PreActResNet((2, 2, 2, 2), n_classes, width)
    elif name == "preact_resnet34":
        model = PreActResNet((3, 4, 6, 3), n_classes, width)
    elif name == "si_preact_resnet18":
        model = SIPreActResNet((2, 2, 2, 2), n_classes, width)
    else:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return he_init(model)
