"""bf16 autocast on a CPU through fp32 kernels (wdecay.cpu_bf16) against PyTorch's own bf16 kernels."""

import torch
import torch.nn.functional as F
from wdecay import cpu_bf16, device
from wdecay.models import gpt

CPU = torch.device("cpu")
BF16_EPS = 2.0**-8  # a bf16 ulp relative to the value, at most


def forward_backward(fn, inputs, emulated):
    """fn's output and the gradients of its inputs under bf16 autocast: PyTorch's kernels or the emulation."""
    leaves = [t.clone().requires_grad_() for t in inputs]
    scope = cpu_bf16.autocast() if emulated else torch.autocast("cpu", dtype=torch.bfloat16)
    with scope:
        out = fn(*leaves)
    out.float().pow(2).sum().backward()
    return [out, *(t.grad for t in leaves)]


def relative(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def test_matmuls_are_bit_identical_to_pytorchs_bf16_kernels():
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(32, 48, generator=g), torch.randn(64, 48, generator=g), torch.randn(64, generator=g)
    a3, b3 = torch.randn(4, 16, 24, generator=g), torch.randn(4, 24, 8, generator=g)
    cases = {
        "linear": (lambda x, w, b: F.linear(x, w, b), [x, w, b]),
        "matmul": (lambda x, w: x @ w.T, [x, w]),
        "bmm": (torch.bmm, [a3, b3]),
        "addmm": (lambda b, x, w: torch.addmm(b, x, w.T), [b, x, w]),
    }
    for name, (fn, inputs) in cases.items():
        native = forward_backward(fn, inputs, emulated=False)
        emulated = forward_backward(fn, inputs, emulated=True)
        assert emulated[0].dtype == native[0].dtype == torch.bfloat16, name
        for e, n in zip(emulated, native, strict=True):
            assert e.dtype == n.dtype and torch.equal(e, n), name


def test_attention_and_convolutions_agree_with_pytorch_to_a_fraction_of_an_ulp():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 32, 16, generator=g) for _ in range(3))
    image, kernel = torch.randn(8, 4, 12, 12, generator=g), torch.randn(6, 4, 3, 3, generator=g)
    cases = {
        "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v]),
        "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), [image, kernel]),
    }
    for name, (fn, inputs) in cases.items():
        native = forward_backward(fn, inputs, emulated=False)
        emulated = forward_backward(fn, inputs, emulated=True)
        assert emulated[0].dtype == torch.bfloat16, name
        for e, n in zip(emulated, native, strict=True):
            assert e.dtype == n.dtype and relative(e, n) < BF16_EPS, name
        # and they are bf16 results, not fp32 ones: as far from fp32 as PyTorch's own bf16
        exact = fn(*inputs)
        assert relative(emulated[0], exact) > BF16_EPS / 16, name


def test_pytorchs_kernels_are_back_once_the_outermost_scope_exits():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, 16, 8, generator=g) for _ in range(3))

    def attention():
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        native = attention()
    with cpu_bf16.autocast():
        emulated = attention()
        with cpu_bf16.autocast():
            pass
        assert torch.equal(attention(), emulated)  # an inner scope's exit leaves the outer one's kernels
    assert not torch.equal(emulated, native)  # attention's summation order tells the two apart
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(attention(), native)


def test_a_gpt_step_in_bf16_on_a_cpu_matches_pytorchs_bf16():
    torch.manual_seed(0)
    model = gpt.build_gpt("gpt_mini", 256, 32)
    x, y = torch.randint(0, 256, (4, 32)), torch.randint(0, 256, (4, 32))
    runs = {}
    for name, scope in (("native", lambda: torch.autocast("cpu", dtype=torch.bfloat16)), ("ours", None)):
        model.zero_grad()
        with scope() if scope else device.autocast("bf16", CPU):
            loss = model(x, y)
        loss.backward()
        runs[name] = (loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()]))
    (loss_n, grad_n), (loss_o, grad_o) = runs["native"], runs["ours"]
    assert abs(loss_o - loss_n).item() < 1e-3 * loss_n.item()
    assert relative(grad_o, grad_n) < 2 * BF16_EPS
