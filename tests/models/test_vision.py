import math

import pytest
import torch
from torch import nn
from wdecay.models.vision import MODELS, build_model


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("classes,size", [(10, 32), (100, 32), (200, 64), (10, 16)])
def test_any_number_of_classes_and_input_sizes(name, classes, size):
    model = build_model(name, classes, width=0.0625).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, classes)
    assert torch.isfinite(out).all()


def preact_resnet_params(blocks, classes=10):
    """Parameter count of a CIFAR PreAct ResNet with an input BatchNorm and a final BatchNorm, by hand."""
    total, c_in = 2 * 3 + 3 * 64 * 9, 64  # input BN, stem conv
    for i, n in enumerate(blocks):
        c = 64 * 2**i
        for _j in range(n):
            total += 2 * c_in + c_in * c * 9 + 2 * c + c * c * 9 + (c_in * c if c_in != c else 0)
            c_in = c
    return total + 2 * 512 + 512 * classes + classes


def test_full_width_parameter_counts_match_the_standard_architectures():
    counts = {name: sum(p.numel() for p in build_model(name, 10).parameters()) for name in MODELS}
    # the common CIFAR PreAct ResNet-18 has 11,171,146; the authors' adds an input BN (6) and a final BN (1024)
    assert counts["preact_resnet18"] == preact_resnet_params((2, 2, 2, 2)) == 11_171_146 + 6 + 1024
    assert counts["preact_resnet34"] == preact_resnet_params((3, 4, 6, 3))
    # VGG16 convolutions (14.71M) with biases, plus a 512-512-512-10 classifier
    assert counts["vgg16"] == 14_714_688 + (512 * 512 + 512) * 2 + 512 * 10 + 10


def test_width_multiplier_scales_channels():
    model = build_model("preact_resnet18", 10, width=0.125)
    assert model.conv1.out_channels == 8 and model.linear.in_features == 64


def test_he_initialisation_everywhere():
    torch.manual_seed(0)
    model = build_model("preact_resnet34", 100)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            assert m.weight.std().item() == pytest.approx(
                math.sqrt(2 / fan_in), rel=0.1 if m.weight.numel() > 5000 else 0.5
            )
            if m.bias is not None:
                assert (m.bias == 0).all()
        if isinstance(m, nn.BatchNorm2d):
            assert (m.weight == 1).all() and (m.bias == 0).all()


def test_vgg_has_no_batchnorm_and_resnets_have_learnable_batchnorm():
    assert not any(isinstance(m, nn.BatchNorm2d) for m in build_model("vgg16", 10).modules())
    bns = [m for m in build_model("preact_resnet18", 10).modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 8 + 1 and all(bn.affine for bn in bns)


def test_same_seed_same_weights():
    def weights(seed):
        torch.manual_seed(seed)
        return torch.cat([p.flatten() for p in build_model("vgg16", 10, 0.125).parameters()])

    assert torch.equal(weights(1), weights(1)) and not torch.equal(weights(1), weights(2))


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="resnet50"):
        build_model("resnet50", 10)


def test_scale_invariant_resnet_output_ignores_the_scale_of_every_trainable_weight():
    torch.manual_seed(0)
    model = build_model("si_preact_resnet18", 10, width=0.125).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.dim() == 4 for p in trainable)  # only convolution weights train
    assert not model.linear.weight.requires_grad and not model.linear.bias.requires_grad
    x = torch.randn(16, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        for p in trainable:  # a different positive factor per tensor
            p.mul_(float(torch.empty(()).uniform_(0.1, 10.0)))
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
