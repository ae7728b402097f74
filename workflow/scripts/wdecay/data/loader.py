"""Device-resident image batches: a whole split lives on the device as uint8, and each batch is gathered,
converted and normalised there by tensor ops (no DataLoader, no worker processes, no per-sample Python)."""

import numpy as np
import torch

from ..device import memory_format


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation in [0, 1] units of uint8 (N, H, W, C) images."""
    flat = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return flat.mean(0), flat.std(0)


class DeviceImages:
    """One split on the device. Batches come out as float32 NCHW tensors normalised with the given per-channel
    statistics (those of the training split): in order (``sequential``, for forward passes) in channels-last
    layout, shuffled (``shuffled``, for training steps) in the device's ``memory_format``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std, device: torch.device):
        self.train_layout = memory_format(torch.device(device))
        self.x = torch.as_tensor(images).to(device)  # (N, H, W, C) uint8
        self.y = torch.as_tensor(labels, dtype=torch.int64).to(device)
        std = torch.as_tensor(std, dtype=torch.float32, device=device)
        self.scale = 1.0 / (255.0 * std)
        self.shift = -torch.as_tensor(mean, dtype=torch.float32, device=device) / std

    def __len__(self) -> int:
        return len(self.y)

    def _prepare(self, x_uint8: torch.Tensor, layout=torch.channels_last) -> torch.Tensor:
        # NHWC storage viewed as NCHW is exactly the channels-last layout (no copy then)
        return (x_uint8.float() * self.scale + self.shift).permute(0, 3, 1, 2).contiguous(memory_format=layout)

    def sequential(self, batch_size: int, drop_last: bool = False):
        """All examples in order, in batches of ``batch_size`` (the last one smaller, unless dropped)."""
        end = len(self) - len(self) % batch_size if drop_last else len(self)
        for i in range(0, end, batch_size):
            yield self._prepare(self.x[i : i + batch_size]), self.y[i : i + batch_size]

    def shuffled(self, batch_size: int, generator: torch.Generator, start: int = 0):
        """One epoch in a random order drawn from ``generator`` (a CPU generator, so runs resume exactly),
        from batch ``start`` on; the last incomplete batch is dropped, as in the authors' training loader."""
        order = torch.randperm(len(self), generator=generator).to(self.x.device)
        n_full = len(self) // batch_size
        for idx in order[: n_full * batch_size].view(n_full, batch_size)[start:]:
            yield self._prepare(self.x[idx], self.train_layout), self.y[idx]

    def steps_per_epoch(self, batch_size: int) -> int:
        return len(self) // batch_size
