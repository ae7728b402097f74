"""Reading the torch files the jobs write (checkpoints, fine-tuned models): one that cannot be read is named, with
what to do about it, instead of PyTorch's bare "failed finding central directory"."""

import pickle

import torch

from .files import damaged, rebuild_hint

# What torch.load raises on a truncated, overwritten or foreign file (a missing file raises FileNotFoundError).
UNREADABLE = (EOFError, OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError)


def load(path, writer: str, map_location="cpu") -> dict:
    """``torch.load(path, weights_only=True)``; a file that cannot be read raises DamagedFile naming it, the job
    that wrote it (``writer``, in words) and how to rebuild it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except UNREADABLE as error:
        said = str(error).strip().split(". ")[0].splitlines()  # torch's first sentence; its advice does not apply
        problem = f"cannot be read as a PyTorch checkpoint ({': '.join([type(error).__name__, *said[:1]])})"
        raise damaged(path, problem, rebuild_hint(path, writer)) from error
