"""The device a job runs on and how it computes there: device resolution, fp32/TF32 mode, autocast precisions, and
the memory layout of back-propagated convolution inputs. Shared by every job that runs a model (training,
fine-tuning, measurements)."""

import contextlib

import torch

from wdecay import cpu_bf16

AUTOCAST_DTYPES = {"fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but CUDA is not available on this machine")
    return torch.device(name)


class SlowPrecision(ValueError):
    """A precision that the device runs so slowly that the job would take days (fp16 autocast on a CPU)."""


def check_vision_precision(run: dict, device: torch.device) -> None:
    """Stop a vision job asked to run fp16 on a CPU before it starts: PyTorch's CPU fp16 convolutions are not
    vectorised (a full-width PreAct ResNet-18 step on 2 cores took 7 s per image, against 29 ms in fp32 and 16 ms
    in bf16), so a paper-length run would take years. bf16 and fp32 are fine on a CPU."""
    if run["precision"] == "fp16" and device.type == "cpu":
        raise SlowPrecision(
            f"family {run['family']}, run {run['run_id']} (preset {run['preset']}): precision fp16 on device cpu "
            f"(the preset's device is {run['device']!r}): fp16 autocast on a CPU takes seconds per image, a run "
            f"would take days. Set presets.{run['preset']}.families.{run['family']}.precision to [bf16] or [fp32] "
            "to run it on a CPU, or run it where CUDA is available."
        )


def set_fp32_mode(precision: str) -> None:
    """fp32 means IEEE fp32 everywhere; tf32 lets CUDA convolutions and matmuls use TensorFloat-32 (which cuDNN
    convolutions otherwise do by default). Autocast precisions run their fp32 ops as IEEE fp32."""
    mode = "tf32" if precision == "tf32" else "ieee"
    torch.backends.cudnn.conv.fp32_precision = mode
    torch.backends.cuda.matmul.fp32_precision = mode


def autocast(precision: str, device: torch.device):
    """The autocast scope of a precision; bf16 on a CPU computes on fp32 kernels (wdecay.cpu_bf16)."""
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    if device.type == "cpu" and dtype == torch.bfloat16:
        return cpu_bf16.autocast()
    return torch.autocast(device.type, dtype=dtype)


def memory_format(device: torch.device) -> torch.memory_format:
    """Layout of tensors that are back-propagated through convolutions: channels-last on CUDA, where convolutions
    prefer it; the standard layout on CPU, where PyTorch 2.14's channels-last convolution backward corrupts memory
    for narrow networks on large images (ResNet-18 at 1/16 width on 64x64 inputs aborts). Forward-only passes use
    channels-last everywhere (on CPU 1.7-3x faster than the standard layout)."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format
