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


FP16_MESSAGE = (
    r"family V1, run test_run \(preset test\): precision fp16 on device cpu \(the preset's device is 'cpu'\): "
    r"fp16 autocast on a CPU takes seconds per image, a run would take days\. Set "
    r"presets\.test\.families\.V1\.precision to \[bf16\] or \[fp32\]"
)


def test_fp16_vision_training_on_a_cpu_stops_at_once(digits_dir, tmp_path):
    """A vision job asked to run fp16 on a CPU stops before it builds anything, naming family, precision and device."""
    from conftest import run_settings
    from wdecay.training import vision

    run = run_settings(precision="fp16", device="cpu")
    with pytest.raises(device.SlowPrecision, match=FP16_MESSAGE):
        vision.train(run, digits_dir, tmp_path / "m.parquet", {}, tmp_path / "work")
    assert not (tmp_path / "work").exists() and not (tmp_path / "m.parquet").exists()
    device.check_vision_precision(run | {"precision": "bf16"}, torch.device("cpu"))  # bf16 and fp32 are fine
    device.check_vision_precision(run, torch.device("cuda"))


def test_fp16_fine_tuning_on_a_cpu_stops_at_once(digits_dir, tmp_path):
    from conftest import run_settings
    from wdecay.training import finetune

    run = run_settings(precision="fp16", device="auto") if not torch.cuda.is_available() else None
    if run is None:
        pytest.skip("device auto resolves to CUDA here")
    ft = {"epochs": 1, "lr": 1e-3, "wd": 0.0}
    with pytest.raises(device.SlowPrecision, match="precision fp16 on device cpu \\(the preset's device is 'auto'\\)"):
        finetune.finetune(run, ft, 2, tmp_path / "none.pt", digits_dir, tmp_path / "m", tmp_path / "x", tmp_path / "w")
