"""Image datasets as compact arrays: built once by a prepare job, then loaded straight onto the device.

Prepared layout (one folder per dataset): ``train_x.npy``/``test_x.npy`` uint8 images (N, H, W, C),
``train_y.npy``/``test_y.npy`` int64 labels, and ``meta.json`` (name, source, classes, shape, code version).

Sources:
- ``digits`` (offline, the tiny preset): scikit-learn's bundled 8x8 handwritten digits rendered onto a 3-channel
  ``size``x``size`` canvas with random scale, position, brightness and pixel noise. Train and test images come from
  disjoint pools of the original samples, so a network can fit the training set while test error stays well
  above zero.
- ``cifar10``/``cifar100``: torchvision's on-disk pickle batches (``cifar-10-batches-py``, ``cifar-100-python``),
  parsed here directly so the parser is testable without the real archives.
- a subset of another prepared dataset: the first ``per_class`` training images of each class (the paper's
  "5k subset" of CIFAR-10 for Hessian and Jacobian jobs); the test split is kept whole.
"""

import json
import os
import pickle
from pathlib import Path

import numpy as np

from .files import atomic_path

SPLITS = ("train", "test")
CIFAR_LAYOUT = {
    # name: (folder, training batch files, test batch file, label key)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels"),
    "cifar100": ("cifar-100-python", ["train"], "test", "fine_labels"),
}


# --- digits (offline) -------------------------------------------------------------------------------------------


def digits_base(seed: int, train_fraction: float = 0.6):
    """scikit-learn's 1797 digits as floats in [0, 1], split by a seeded permutation into disjoint pools."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(round(train_fraction * len(images)))
    pools = {"train": order[:cut], "test": order[cut:]}
    return {split: (images[idx], digits.target[idx].astype(np.int64)) for split, idx in pools.items()}


def _resize(img: np.ndarray, s: int) -> np.ndarray:
    """Bilinear resize of a square float image to s x s (pixel-centre aligned)."""
    n = img.shape[0]
    pos = (np.arange(s) + 0.5) * n / s - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    rows = img[lo] * (1 - w)[:, None] + img[hi] * w[:, None]
    return rows[:, lo] * (1 - w)[None, :] + rows[:, hi] * w[None, :]


def _render(glyph: np.ndarray, size: int, rng) -> np.ndarray:
    """Draw a glyph (float mask) at a random scale and position on a noisy canvas; uint8 (size, size, 3)."""
    bg, fg = rng.uniform(0.0, 0.45), rng.uniform(0.55, 1.0)  # random brightness, strokes always brighter
    s = int(rng.integers(int(0.7 * size), size + 1))
    dx, dy = rng.integers(0, size - s + 1, 2)
    mask = np.zeros((size, size), np.float32)
    mask[dy : dy + s, dx : dx + s] = _resize(glyph, s)
    img = bg + (fg - bg) * mask[..., None] + rng.normal(0, 0.05, (size, size, 3))
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def make_digits(train_size: int, test_size: int, size: int, seed: int) -> dict:
    """Render the digits dataset (10 classes); deterministic in ``seed``."""
    out = {}
    for k, (split, (glyphs, digit)) in enumerate(digits_base(seed).items()):
        n = train_size if split == "train" else test_size
        rng = np.random.default_rng([seed, k])
        order = np.concatenate([rng.permutation(len(glyphs)) for _ in range(-(-n // len(glyphs)))])[:n]
        x = np.stack([_render(glyphs[i], size, rng) for i in order])
        out[split] = (x, digit[order])
    return out


# --- CIFAR (torchvision's on-disk format) ----------------------------------------------------------------------


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def read_cifar(root: str | os.PathLike, name: str) -> dict:
    """Parse CIFAR-10/100 pickle batches under ``root`` into uint8 (N, 32, 32, 3) images and int64 labels."""
    folder, train_files, test_file, label_key = CIFAR_LAYOUT[name]
    base = Path(root) / folder
    out = {}
    for split, files in (("train", train_files), ("test", [test_file])):
        xs, ys = [], []
        for file in files:
            path = base / file
            if not path.is_file():
                raise FileNotFoundError(f"{name}: missing {path} (expected torchvision's {folder}/ layout)")
            batch = _unpickle(path)
            if "data" not in batch or label_key not in batch:
                raise ValueError(f"{path}: not a {name} batch (needs keys 'data' and {label_key!r})")
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3072 or len(batch[label_key]) != len(data):
                raise ValueError(f"{path}: data has shape {data.shape}, expected (N, 3072) with N labels")
            xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        out[split] = (np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys))
    return out


def per_class_subset(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` examples of each class, in dataset order."""
    keep = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        keep[np.flatnonzero(labels == c)[:per_class]] = True
    return np.flatnonzero(keep)


# --- prepared arrays ------------------------------------------------------------------------------------------


PREPARED_FILES = {f"{s}_{a}": f"{s}_{a}.npy" for s in SPLITS for a in ("x", "y")} | {"meta": "meta.json"}


def split_paths(folder: str | os.PathLike) -> dict[str, Path]:
    return {key: Path(folder) / name for key, name in PREPARED_FILES.items()}


def save_prepared(folder, splits: dict, meta: dict) -> None:
    """Write both splits and meta.json atomically; ``meta`` gets the class count and image shape."""
    paths = split_paths(folder)
    for split, (x, y) in splits.items():
        for key, arr in ((f"{split}_x", x), (f"{split}_y", y)):
            with atomic_path(paths[key]) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, arr)
    train_x, train_y = splits["train"]
    meta = {**meta, "classes": int(max(y.max() for _, y in splits.values()) + 1), "shape": list(train_x.shape[1:])}
    meta |= {f"{s}_size": int(len(splits[s][1])) for s in SPLITS}
    with atomic_path(paths["meta"]) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=2) + "\n")


def load_prepared(folder) -> tuple[dict, dict]:
    """(splits, meta) of a prepared dataset folder."""
    paths = split_paths(folder)
    splits = {s: (np.load(paths[f"{s}_x"]), np.load(paths[f"{s}_y"])) for s in SPLITS}
    return splits, json.loads(paths["meta"].read_text())


def build(spec: dict, parent: str | None = None) -> dict:
    """Build the splits of a dataset spec from config (``source`` digits, cifar10, cifar100 or subset)."""
    source = spec["source"]
    if source == "digits":
        return make_digits(spec["train_size"], spec["test_size"], spec["size"], spec["seed"])
    if source in CIFAR_LAYOUT:
        return read_cifar(spec["root"], source)
    if source == "subset":
        splits, _ = load_prepared(parent)
        x, y = splits["train"]
        keep = per_class_subset(y, spec["per_class"])
        return {"train": (x[keep], y[keep]), "test": splits["test"]}
    raise ValueError(f"unknown dataset source {source!r}")
