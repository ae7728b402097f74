"""Benchmark: one epoch through the device-resident data path against a torchvision DataLoader pipeline on the
same CIFAR-shaped data, with and without a training step. Prints seconds per epoch and the ratio.

    .venv/bin/python bench/data_path.py [--n 10000] [--workers 0 2] [--device cpu|cuda]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
from wdecay.data.loader import DeviceImages, channel_stats  # noqa: E402
from wdecay.models.vision import build_model  # noqa: E402


class ArrayDataset(Dataset):
    """What a torchvision CIFAR dataset does per item: uint8 HWC array -> transform -> tensor."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def timed(fn, *args, repeats=3):
    """Best of ``repeats`` timings of fn(*args), after one warm-up call."""
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--width", type=float, default=0.125)
    args = parser.parse_args()
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.n)
    mean, std = channel_stats(images)
    resident = DeviceImages(images, labels, mean, std, device)
    transform = T.Compose([T.ToTensor(), T.Normalize(mean.tolist(), std.tolist())])
    dataset = ArrayDataset(images, labels, transform)

    torch.manual_seed(0)
    model = build_model("preact_resnet18", 10, args.width).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def resident_epoch(train):
        gen = torch.Generator().manual_seed(0)
        for x, y in resident.shuffled(args.batch_size, gen):
            if train:
                step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def loader_epoch(workers, train):
        loader = DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )
        for x, y in loader:
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            if train:
                step(x, y)
        if device.type == "cuda":
            torch.cuda.synchronize()

    print(
        f"{args.n} CIFAR-shaped images, batch {args.batch_size}, device {device}, torch threads "
        f"{torch.get_num_threads()}, model PreAct ResNet-18 width {args.width}"
    )
    for train in (False, True):
        what = "data + training step" if train else "data path only"
        ours = timed(resident_epoch, train)
        print(f"  {what:22s} device-resident: {ours:7.3f} s/epoch")
        for workers in args.workers:
            theirs = timed(loader_epoch, workers, train, repeats=1 if train else 2)
            print(f"  {what:22s} DataLoader({workers} workers): {theirs:7.3f} s/epoch   ratio {theirs / ours:6.1f}x")


if __name__ == "__main__":
    main()
