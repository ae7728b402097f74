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


def test_he_initialisation_everywhere_as_written():
    torch.manual_seed(0)
    model = build_model("preact_resnet34", 100, init="he")
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


def test_per_layer_scale_invariant_resnet_output_ignores_the_scale_of_every_trainable_weight():
    torch.manual_seed(0)
    model = build_model("si_preact_resnet18", 10, width=0.125, init="he", si_arch="per_layer").train()
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


# --- as run: the authors' initialisation, VGG input and scale-invariant ResNet -----------------------------------


def _std_close(weight, expected):
    return weight.std().item() == pytest.approx(expected, rel=0.1 if weight.numel() > 5000 else 0.5)


@pytest.mark.parametrize("name", ["preact_resnet18", "preact_resnet34", "si_preact_resnet18"])
def test_resnets_keep_pytorchs_default_initialisation_as_run(name):
    """Every conv/linear weight U(+-1/sqrt(fan_in)) (std 1/sqrt(3 fan_in), 1/sqrt(6) of He's), identity BN."""
    torch.manual_seed(0)
    model = build_model(name, 10)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            assert m.weight.abs().max().item() <= 1 / math.sqrt(fan_in) + 1e-7
            assert _std_close(m.weight, 1 / math.sqrt(3 * fan_in))
        if isinstance(m, nn.BatchNorm2d) and m.affine:
            assert (m.weight == 1).all() and (m.bias == 0).all()


def test_vgg_convolutions_are_he_fan_out_and_its_linear_layers_default_as_run():
    torch.manual_seed(0)
    model = build_model("vgg16", 10, width=0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for m in convs:
        fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
        assert _std_close(m.weight, math.sqrt(2 / fan_out)) and (m.bias == 0).all()
    for m in linears:
        bound = 1 / math.sqrt(m.in_features)
        assert m.weight.abs().max().item() <= bound and m.bias.abs().max().item() <= bound
        assert (m.bias != 0).any()
    he = build_model("vgg16", 10, width=0.5, init="he")
    first = next(m for m in he.modules() if isinstance(m, nn.Conv2d))
    assert _std_close(first.weight, math.sqrt(2 / first.weight[0].numel()))  # as written: fan-in


def test_vgg_normalises_its_input_again_with_imagenet_statistics_as_run():
    torch.manual_seed(0)
    twice = build_model("vgg16", 10, width=0.125).eval()
    once = build_model("vgg16", 10, width=0.125, vgg_input="once").eval()
    once.load_state_dict(twice.state_dict())  # same weights: no parameter or saved buffer differs
    x = torch.randn(2, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(twice(x), once((x - mean) / std))
        assert not torch.allclose(twice(x), once(x))
    assert sum(p.numel() for p in twice.parameters()) == sum(p.numel() for p in once.parameters())


def test_authors_scale_invariant_resnet_modules():
    """Non-affine BatchNorms (input, two per block, one before each of the 3 shortcut convolutions, final),
    convolutions with biases, a frozen classifier."""
    model = build_model("si_preact_resnet18", 10, width=0.125)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 2 * 8 + 3 + 1 and not any(bn.affine for bn in bns)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 2 * 8 + 3 and all(c.bias is not None for c in convs)
    shortcuts = [b.shortcut for b in model.blocks if b.shortcut is not None]
    assert all(isinstance(s[0], nn.BatchNorm2d) and isinstance(s[1], nn.Conv2d) for s in shortcuts)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if not n.startswith("linear.")}


def test_authors_scale_invariant_resnet_ignores_a_common_scale_of_all_trainable_parameters():
    torch.manual_seed(0)
    model = build_model("si_preact_resnet18", 10, width=0.125).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    x = torch.randn(16, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        for p in trainable:
            p.mul_(3.7)
        common = model(x)
        model.blocks[0].conv2.weight.mul_(5.0)  # one tensor alone: not invariant (the per-layer variant is)
        one = model(x)
    torch.testing.assert_close(common, before, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(one, before, rtol=1e-3, atol=1e-3)
