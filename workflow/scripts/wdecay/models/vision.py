"""Vision models of the paper: VGG16 without BatchNorm, PreAct ResNet-18/34 with CIFAR stems, and the
scale-invariant PreAct ResNet-18 trained on the sphere (ICLR Fig 2).

All models take any number of classes and any input size of at least 32x32 (adaptive pooling before the
classifier), and a width multiplier that scales every channel count (the tiny preset uses 1/8).

Where the paper's text and the authors' code differ, the code's way is the default and the text's a variant (the
config's ``protocol``; README, "As run and as written"):
- ``init``: ``pytorch`` (as run: the authors never call their He initialiser, so every layer keeps PyTorch's
  default, except VGG's convolutions, which their VGG class draws He-normal fan-out with zero biases) or ``he``
  (as written: He-normal fan-in for every convolution and linear weight, zero biases, identity BatchNorm).
- ``vgg_input``: ``twice`` (as run: their VGG normalises its already normalised input again with ImageNet's
  mean and standard deviation) or ``once``.
- ``si_arch`` of the scale-invariant ResNet: ``authors`` (as run: non-affine BatchNorms, convolution biases, a
  BatchNorm before each shortcut convolution) or ``per_layer`` (ours: a BatchNorm after the stem and at the end of
  every residual branch, no biases, so the output ignores the scale of each weight tensor alone).
"""

import torch
from torch import nn
from torch.nn import functional as F

MODELS = ("vgg16", "preact_resnet18", "preact_resnet34", "si_preact_resnet18")
INITS = ("pytorch", "he")
VGG_INPUTS = ("twice", "once")
SI_ARCHS = ("authors", "per_layer")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the authors' VGG normalises by these


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


def authors_init(model: nn.Module) -> nn.Module:
    """PyTorch's default initialisation (as constructed), except VGG's convolutions: He-normal fan-out, zero biases."""
    if isinstance(model, VGG16):
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return model


class Renormalise(nn.Module):
    """A fixed per-channel affine map (x - mean) / std, no parameters."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class VGG16(nn.Module):
    """VGG16 (configuration D) without BatchNorm, with biases, and a 3-layer classifier as in the authors' code."""

    STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))

    def __init__(self, n_classes: int, width: float = 1.0, input_norm: str = "twice"):
        super().__init__()
        self.input_norm = Renormalise(IMAGENET_MEAN, IMAGENET_STD) if input_norm == "twice" else nn.Identity()
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
        return self.classifier(torch.flatten(self.pool(self.features(self.input_norm(x))), 1))


class PreActBlock(nn.Module):
    """Pre-activation basic block; the projection shortcut takes the pre-activated input. The authors'
    scale-invariant variant (``affine=False``): BatchNorms without parameters, convolution biases, and a BatchNorm
    before the shortcut convolution."""

    affine = True

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        bias = not self.affine
        self.bn1 = nn.BatchNorm2d(c_in, affine=self.affine)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(c_out, affine=self.affine)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=bias)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=bias)
            self.shortcut = conv if self.affine else nn.Sequential(nn.BatchNorm2d(c_in, affine=False), conv)

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
        return nn.Conv2d(3, c, 3, padding=1, bias=not self.affine)

    def forward(self, x):
        out = self.blocks(self.conv1(self.bn_in(x)))
        out = self.pool(F.relu(self.bn_out(out)))
        return self.linear(torch.flatten(out, 1))


class AuthorsSIBlock(PreActBlock):
    affine = False


class AuthorsSIPreActResNet(PreActResNet):
    """The authors' scale-invariant PreAct ResNet: every BatchNorm without affine parameters, convolutions with
    biases, a BatchNorm before each shortcut convolution, and a frozen classifier. Every block's output is
    homogeneous of degree 1 in the trainable parameters and the final BatchNorm removes the scale, so the loss
    ignores a common scaling of all of them (not of one tensor alone): projected SGD keeps them on the sphere."""

    block = AuthorsSIBlock
    affine = False

    def __init__(self, blocks: tuple[int, ...], n_classes: int, width: float = 1.0):
        super().__init__(blocks, n_classes, width)
        self.linear.requires_grad_(False)


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


def model_options(run: dict) -> dict:
    """The build_model options a run sets (a setting that does not apply to the run's model is None)."""
    return {k: run[k] for k in ("init", "vgg_input", "si_arch") if run.get(k) is not None}


def build_model(
    name: str,
    n_classes: int,
    width: float = 1.0,
    init: str = "pytorch",
    vgg_input: str = "twice",
    si_arch: str = "authors",
) -> nn.Module:
    """Build a model by name (one of MODELS) with the given initialisation and variants (the module docstring says
    which is the authors'). Seed the RNG before calling for reproducible weights."""
    for key, value, allowed in (
        ("init", init, INITS),
        ("vgg_input", vgg_input, VGG_INPUTS),
        ("si_arch", si_arch, SI_ARCHS),
    ):
        if value not in allowed:
            raise ValueError(f"{key} {value!r} is not one of {', '.join(allowed)}")
    if name == "vgg16":
        model = VGG16(n_classes, width, vgg_input)
    elif name == "preact_resnet18":
        model = PreActResNet((2, 2, 2, 2), n_classes, width)
    elif name == "preact_resnet34":
        model = PreActResNet((3, 4, 6, 3), n_classes, width)
    elif name == "si_preact_resnet18":
        si_class = AuthorsSIPreActResNet if si_arch == "authors" else SIPreActResNet
        model = si_class((2, 2, 2, 2), n_classes, width)
    else:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return he_init(model) if init == "he" else authors_init(model)
