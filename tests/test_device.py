"""Device resolution and the fp32/TF32 mode shared by every job that runs a model."""

import pytest
import torch
from wdecay import device


def test_cuda_requested_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        device.resolve_device("cuda")


def test_fp32_is_strict_and_tf32_is_explicit():
    device.set_fp32_mode("tf32")
    assert torch.backends.cudnn.conv.fp32_precision == "tf32" == torch.backends.cuda.matmul.fp32_precision
    for precision in ("fp32", "bf16"):
        device.set_fp32_mode(precision)
        assert torch.backends.cudnn.conv.fp32_precision == "ieee" == torch.backends.cuda.matmul.fp32_precision
