"""bf16 autocast on a CPU at fp32 speed. Where a CPU has no bf16 arithmetic (x86 without AVX512-BF16 or AMX, as on
our 2-core machines), PyTorch's bf16 matmuls and convolutions fall back to scalar loops: a tiny GPT step was 10x its
fp32 time, and the tiny preset's eight bf16 runs were a quarter of its wall time. Inside ``autocast()`` the matmul
family, the convolutions and attention keep autocast's contract (inputs rounded to bf16, products accumulated in
fp32, the result rounded to bf16) but compute on the fp32 kernels: the inputs round-trip through bf16, the op runs
in fp32, its output is cast to bf16. bf16 products are exact in fp32, so the matmuls and linear layers give
bit-identical results to PyTorch's own bf16 kernels; attention and convolutions differ from them by a fraction of a
bf16 ulp (summation order), as any two backends' bf16 kernels do. Backward passes need nothing: autograd
differentiates the casts and fp32 ops that the forward recorded."""

import contextlib
import warnings

import torch

# Autocast's lower-precision ops (CPU policy) that our models reach, by schema name and overload
OPS = (
    "linear",
    "matmul",
    "mm",
    "addmm",
    "bmm",
    "baddbmm",
    "addbmm",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv1d.padding",
    "conv2d.padding",
    "conv3d.padding",
    "scaled_dot_product_attention",
)

_depth = 0  # nesting depth of autocast(): the kernels are registered while it is positive
_library = None


def _round(value):
    """A floating tensor as autocast would cast it (float64 is left alone), rounded to bf16 and held in fp32."""
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float64:
        return value.to(torch.bfloat16).float()
    if isinstance(value, (list, tuple)):
        return type(value)(_round(v) for v in value)
    return value


def _emulated(op):
    def kernel(*args, **kwargs):
        with torch.autocast("cpu", enabled=False):
            out = op(*_round(args), **{k: _round(v) for k, v in kwargs.items()})
        return out.to(torch.bfloat16)

    return kernel


def _register() -> torch.library.Library:
    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():  # "Overriding a previously registered kernel": intended, for this scope only
        warnings.simplefilter("ignore", UserWarning)
        for name in OPS:
            base, _, overload = name.partition(".")
            library.impl(name, _emulated(getattr(getattr(torch.ops.aten, base), overload or "default")), "AutocastCPU")
    return library


@contextlib.contextmanager
def autocast():
    """``torch.autocast("cpu", dtype=torch.bfloat16)`` with the ops of OPS on fp32 kernels; PyTorch's own kernels
    are back when the outermost scope exits."""
    global _depth, _library
    if _depth == 0:
        _library = _register()
    _depth += 1
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    finally:
        _depth -= 1
        if _depth == 0:
            _library._destroy()
            _library = None
