import math

import pytest
import torch
from torch.nn import functional as F
from wdecay.models.gpt import (
    MODELS,
    PEAK_FLOPS,
    GPTConfig,
    build_gpt,
    flops_per_token,
    mfu,
    num_params,
    padded_vocab,
    peak_flops,
)


def meta_gpt(name, vocab=50257, context=1024, **kw):
    """Shapes only: a full-size model on the meta device costs no memory and no init time."""
    with torch.device("meta"):
        return build_gpt(name, vocab, context, **kw)


def biases(n_layer, n_embd):
    """Bias count of the original GPT-2 (every Linear and LayerNorm), which ours leaves out."""
    return n_layer * (2 * n_embd + 3 * n_embd + n_embd + 4 * n_embd + n_embd) + n_embd


@pytest.mark.parametrize("name,published", [("gpt2_124m", 124_439_808), ("gpt2_774m", 774_030_080)])
def test_parameter_counts_are_gpt2s_without_biases(name, published):
    L, C = MODELS[name]["n_layer"], MODELS[name]["n_embd"]
    model = meta_gpt(name)
    by_hand = 50257 * C + 1024 * C + L * (12 * C * C + 2 * C) + C
    assert num_params(model) == by_hand == published - biases(L, C)
    assert num_params(model, embeddings=False) == by_hand - 1024 * C
    if name == "gpt2_124m":  # nanoGPT's padded vocabulary: 124.4M with position embeddings, 123.6M without
        padded = meta_gpt(name, vocab=50304)
        assert round(num_params(padded) / 1e6, 1) == 124.4
        assert round(num_params(padded, embeddings=False) / 1e6, 1) == 123.6


def test_module_names_are_nanogpts():
    names = {n for n, _ in build_gpt("gpt_mini", 32, 16).named_parameters()}
    per_layer = ("ln_1.weight", "attn.c_attn.weight", "attn.c_proj.weight", "ln_2.weight")
    per_layer += ("mlp.c_fc.weight", "mlp.c_proj.weight")
    expected = {f"transformer.h.{i}.{s}" for i in range(2) for s in per_layer}
    expected |= {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"}
    assert names == expected  # no biases, and the tied lm_head is listed once, as transformer.wte.weight


def test_output_layer_is_tied_to_token_embeddings():
    model = build_gpt("gpt_mini", 32, 16)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    assert sum(p is model.lm_head.weight for p in model.parameters()) == 1


def test_gpt2_initialisation():
    torch.manual_seed(0)
    model = build_gpt("gpt_small", 1000, 64)
    c_proj_std = 0.02 / math.sqrt(2 * 6)
    for name, p in model.named_parameters():
        if p.dim() == 1:
            assert (p == 1).all(), name
        else:
            std = c_proj_std if name.endswith("c_proj.weight") else 0.02
            rel = 0.03 if p.numel() > 100_000 else 0.2
            assert p.std().item() == pytest.approx(std, rel=rel), name
            assert abs(p.mean().item()) < 5 * std / math.sqrt(p.numel()), name


def test_attention_is_causal():
    torch.manual_seed(0)
    model = build_gpt("gpt_mini", 50, 16).eval()
    idx = torch.randint(0, 50, (3, 16))
    changed = idx.clone()
    changed[:, 9:] = torch.randint(0, 50, (3, 7))
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert a.shape == (3, 16, 50)
    torch.testing.assert_close(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_loss_is_mean_cross_entropy_of_the_logits():
    torch.manual_seed(0)
    model = build_gpt("gpt_mini", 50, 16)
    idx, targets = torch.randint(0, 50, (2, 12)), torch.randint(0, 50, (2, 12))
    loss = model(idx, targets)
    assert loss.dim() == 0 and loss.dtype == torch.float32
    expected = F.cross_entropy(model(idx).reshape(-1, 50), targets.reshape(-1))
    torch.testing.assert_close(loss, expected)
    assert loss.item() == pytest.approx(math.log(50), rel=0.05)  # near-uniform predictions at init


def test_too_long_input_names_both_lengths():
    model = build_gpt("gpt_mini", 50, 16)
    with pytest.raises(ValueError, match=r"17.*16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_same_seed_same_model():
    def weights(seed):
        torch.manual_seed(seed)
        return torch.cat([p.flatten() for p in build_gpt("gpt_mini", 50, 16).parameters()])

    assert torch.equal(weights(1), weights(1)) and not torch.equal(weights(1), weights(2))


def test_fixed_layernorm_gains_have_no_parameters():
    model = build_gpt("gpt_mini_large", 50, 16, learnable_ln=False)
    assert not [n for n, _ in model.named_parameters() if ".ln_" in n or n.startswith("transformer.ln_")]
    assert num_params(build_gpt("gpt_mini_large", 50, 16)) - num_params(model) == (2 * 4 + 1) * 128
    assert model(torch.zeros(1, 4, dtype=torch.long)).shape == (1, 4, 50)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="gpt3.*gpt2_124m"):
        build_gpt("gpt3", 50, 16)
    with pytest.raises(ValueError, match="n_head"):
        GPTConfig(50, 16, n_layer=1, n_head=3, n_embd=64)


def test_flops_per_token_on_gpt2_124m():
    model = meta_gpt("gpt2_124m", vocab=50304)
    n = num_params(model, embeddings=False)
    # 6N for the weights, plus 12 * 12 layers * 768 * 1024 context for attention
    assert flops_per_token(model.cfg, n) == 6 * n + 113_246_208
    assert flops_per_token(model.cfg, n) / 1e9 == pytest.approx(0.855, abs=0.001)


def test_mfu_and_peaks(monkeypatch):
    assert peak_flops(torch.device("cpu"), "bf16") is None
    assert mfu(1e4, 1e9, None) is None
    assert mfu(1e4, 1e9, 1e14) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="fp8"):
        peak_flops(torch.device("cpu"), "fp8")
    names = {
        "NVIDIA H100 80GB HBM3": 989e12,
        "NVIDIA H100 PCIe": 756e12,
        "NVIDIA H200": 989e12,
        "NVIDIA A100-SXM4-80GB": 312e12,
        "Tesla T4": None,
    }
    for name, peak in names.items():
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, name=name: name)
        assert peak_flops(torch.device("cuda"), "bf16") == peak
    assert all(p["fp32"] < p["tf32"] < p["bf16"] for p in PEAK_FLOPS.values())


def test_padded_vocab():
    assert padded_vocab(50257) == 50304 and padded_vocab(256) == 256 and padded_vocab(1) == 64


def test_mlp_uses_the_exact_gelu_as_the_authors_and_nanogpt():
    model = build_gpt("gpt_mini", 256, 16)
    gelus = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]
    assert gelus and all(m.approximate == "none" for m in gelus)
