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
- ``cifar5m``: CIFAR-5m (Nakkiran et al., "The Deep Bootstrap"), six archives ``cifar5m_part{0..5}.npz`` under
  ``root``, each holding ``X`` uint8 (N, 32, 32, 3) and ``Y`` integer labels 0-9 (about 1M images per part). There is
  no official test split: parts 0-4 are the training pool and part 5 the held-out test pool; each split takes the
  first ``train_size``/``test_size`` images of its pool in part order, reading only the parts (and rows) it needs.
- ``tiny_imagenet``: CS231n's Tiny ImageNet, the unzipped ``tiny-imagenet-200/`` folder under ``root``. Labels are
  the sorted wnids of ``wnids.txt`` (0..199); train is ``train/<wnid>/images/*.JPEG``, test is the labelled
  validation set (``val/images`` with ``val/val_annotations.txt``); the unlabelled ``test/`` folder is not used.
  Images are decoded to RGB uint8 (N, 64, 64, 3), grayscale ones replicated to three channels.
- a subset of another prepared dataset: the first ``per_class`` training images of each class (the paper's
  "5k subset" of CIFAR-10 for Hessian and Jacobian jobs); the test split is kept whole.
"""

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..io.files import atomic_path, damaged

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
    """A CIFAR batch; one that cannot be unpickled (cut short, an HTML error page) raises DamagedFile naming it."""
    with open(path, "rb") as f:
        try:
            batch = pickle.load(f, encoding="latin1")
        except (EOFError, pickle.UnpicklingError, ValueError, ImportError, IndexError) as error:
            problem = f"cannot be read as a CIFAR pickle batch ({type(error).__name__}: {error})"
            remedy = (
                f"Delete the folder {path.parent} and rerun: under resources/cifar the download_cifar job downloads "
                "it again (checking its checksum); elsewhere put a good copy there "
                "(https://www.cs.toronto.edu/~kriz/cifar.html)."
            )
            raise damaged(path, problem, remedy) from error
    if not isinstance(batch, dict):
        raise damaged(
            path, f"holds a {type(batch).__name__}, not a CIFAR batch (a dict)", "Replace it with a good copy."
        )
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


# --- CIFAR-5m (the Deep Bootstrap's .npz parts) -------------------------------------------------------------------


CIFAR5M_POOLS = {"train": range(5), "test": range(5, 6)}  # part numbers of each split's pool, in reading order
CIFAR5M_SHAPE = (32, 32, 3)
CIFAR5M_CLASSES = 10
_CHUNK = 1 << 22  # bytes per read from an archive member


def cifar5m_part(root: str | os.PathLike, part: int) -> Path:
    return Path(root) / f"cifar5m_part{part}.npz"


def _npy_header(fp, path: Path, key: str) -> tuple[tuple, np.dtype, bool]:
    """(shape, dtype, fortran_order) from the header of an .npy stream, leaving ``fp`` at the first data byte."""
    version = np.lib.format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{path}: array {key!r} has unsupported .npy format version {version}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(fp)
    return shape, dtype, fortran_order


def _npz_array_header(zf: zipfile.ZipFile, path: Path, key: str) -> tuple[tuple, np.dtype, bool]:
    """(shape, dtype, fortran_order) of array ``key`` of an .npz archive, read from its .npy header only."""
    if f"{key}.npy" not in zf.namelist():
        raise ValueError(f"{path}: no array {key!r} (a CIFAR-5m part holds arrays 'X' and 'Y')")
    with zf.open(f"{key}.npy") as fp:
        return _npy_header(fp, path, key)


def cifar5m_part_size(path: Path) -> int:
    """Number of images of a part, after checking its X and Y headers (X uint8 (N, 32, 32, 3), Y integer (N,))."""
    if not path.is_file():
        raise FileNotFoundError(f"cifar5m: missing {path} (expected cifar5m_part0.npz ... cifar5m_part5.npz)")
    try:
        with zipfile.ZipFile(path) as zf:
            x_shape, x_dtype, _ = _npz_array_header(zf, path, "X")
            y_shape, y_dtype, _ = _npz_array_header(zf, path, "Y")
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an .npz archive") from e
    if len(x_shape) != 4 or x_shape[1:] != CIFAR5M_SHAPE or x_dtype != np.uint8:
        raise ValueError(f"{path}: X is {x_dtype} {x_shape}, expected uint8 (N, 32, 32, 3)")
    if y_shape != x_shape[:1] or y_dtype.kind not in "iu":
        raise ValueError(f"{path}: Y is {y_dtype} {y_shape}, expected integer labels of shape {x_shape[:1]}")
    return x_shape[0]


def _plan_pool(root, parts, n: int | None, split: str) -> list[tuple[Path, int]]:
    """(part file, images to take) for the first ``n`` images (all if None) of a pool; opens no part beyond need."""
    plan, total = [], 0
    for part in parts:
        if n is not None and total >= n:
            break
        path = cifar5m_part(root, part)
        size = cifar5m_part_size(path)
        take = size if n is None else min(n - total, size)
        plan.append((path, take))
        total += take
    if n is not None and total < n:
        names = ", ".join(f"part{p}" for p in parts)
        raise ValueError(f"cifar5m: {split}_size {n} exceeds the {total} images of {names} under {root}")
    return plan


def _read_npz_rows(path: Path, key: str, out: np.ndarray) -> None:
    """Fill ``out`` (C-contiguous) with the first len(out) rows of array ``key`` of an .npz archive, cast to
    out's dtype; streams only those rows' bytes unless the array is stored in Fortran order."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fp:
        _, dtype, fortran_order = _npy_header(fp, path, key)
        if fortran_order:  # rows are not contiguous on disk: read the whole array
            with zf.open(f"{key}.npy") as whole:
                out[...] = np.lib.format.read_array(whole)[: len(out)]
            return
        rows = out if dtype == out.dtype else np.empty(out.shape, dtype)
        view, pos = memoryview(rows.reshape(-1).view(np.uint8)), 0
        while pos < len(view):
            got = fp.readinto(view[pos : pos + _CHUNK])
            if not got:
                raise ValueError(f"{path}: array {key!r} is truncated")
            pos += got
        if rows is not out:
            out[...] = rows


def _read_cifar5m_part(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Fill x (k, 32, 32, 3) uint8 and y (k,) int64 with the first k images of a part; labels must lie in 0..9."""
    _read_npz_rows(path, "X", x)
    _read_npz_rows(path, "Y", y)
    if len(y) and (y.min() < 0 or y.max() >= CIFAR5M_CLASSES):
        raise ValueError(f"{path}: labels span {y.min()}..{y.max()}, expected 0..{CIFAR5M_CLASSES - 1}")


def read_cifar5m(root: str | os.PathLike, train_size: int | None = None, test_size: int | None = None) -> dict:
    """CIFAR-5m from ``root/cifar5m_part{0..5}.npz``: train = the first ``train_size`` images of parts 0-4 (all if
    None), test = the first ``test_size`` images of part 5 (all if None); uint8 (N, 32, 32, 3) and int64 labels."""
    out = {}
    for split, n in (("train", train_size), ("test", test_size)):
        plan = _plan_pool(root, CIFAR5M_POOLS[split], n, split)
        total = sum(take for _, take in plan)
        x, y = np.empty((total, *CIFAR5M_SHAPE), np.uint8), np.empty(total, np.int64)
        start = 0
        for path, take in plan:
            _read_cifar5m_part(path, x[start : start + take], y[start : start + take])
            start += take
        out[split] = (x, y)
    return out


# --- Tiny ImageNet (CS231n's tiny-imagenet-200 folder) -------------------------------------------------------------


TINY_IMAGENET_FOLDER = "tiny-imagenet-200"
TINY_IMAGENET_SIZE = 64


def _read_wnids(base: Path) -> dict[str, int]:
    """wnid -> label: the sorted wnids of ``wnids.txt`` (one per line) numbered from 0."""
    path = base / "wnids.txt"
    if not path.is_file():
        raise FileNotFoundError(f"tiny_imagenet: missing {path} (expected CS231n's {TINY_IMAGENET_FOLDER}/ layout)")
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise ValueError(f"{path}: expected distinct wnids, one per line")
    return {wnid: label for label, wnid in enumerate(sorted(wnids))}


def _tiny_train_files(base: Path, labels: dict[str, int]) -> tuple[list[Path], list[int]]:
    """Training images ``train/<wnid>/images/*.JPEG`` of each class in label order, sorted by file name."""
    paths, ys = [], []
    for wnid, label in labels.items():
        folder = base / "train" / wnid / "images"
        files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"tiny_imagenet: no training images {folder}/*.JPEG for wnid {wnid}")
        paths += files
        ys += [label] * len(files)
    return paths, ys


def _tiny_val_files(base: Path, labels: dict[str, int]) -> tuple[list[Path], list[int]]:
    """Validation images ``val/images/<file>`` labelled by ``val/val_annotations.txt`` (tab-separated: file, wnid,
    four box coordinates), sorted by file name."""
    path = base / "val" / "val_annotations.txt"
    if not path.is_file():
        raise FileNotFoundError(f"tiny_imagenet: missing {path}")
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected tab-separated file name and wnid, got {line!r}")
        file, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in labels:
            raise ValueError(f"{path}:{number}: wnid {wnid!r} of {file} is not in wnids.txt")
        entries[file] = labels[wnid]
    if not entries:
        raise ValueError(f"{path}: no annotated validation images")
    files = sorted(entries)
    return [base / "val" / "images" / file for file in files], [entries[file] for file in files]


def _decode_rgb(paths: list[Path], size: int) -> np.ndarray:
    """Decode images to uint8 (N, size, size, 3) RGB; grayscale (or CMYK) images are converted."""
    from PIL import Image

    x = np.empty((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        if not path.is_file():
            raise FileNotFoundError(f"tiny_imagenet: missing image {path}")
        with Image.open(path) as im:
            if im.size != (size, size):
                raise ValueError(f"{path}: image is {im.size[0]}x{im.size[1]}, expected {size}x{size}")
            x[i] = np.asarray(im.convert("RGB"))
    return x


def read_tiny_imagenet(root: str | os.PathLike) -> dict:
    """Tiny ImageNet from ``root/tiny-imagenet-200``: train = ``train/``, test = the labelled ``val/`` split."""
    base = Path(root) / TINY_IMAGENET_FOLDER
    if not base.is_dir():
        raise FileNotFoundError(f"tiny_imagenet: missing folder {base} (unzip tiny-imagenet-200.zip into {root})")
    labels = _read_wnids(base)
    out = {}
    for split, files in (("train", _tiny_train_files), ("test", _tiny_val_files)):
        paths, ys = files(base, labels)
        out[split] = (_decode_rgb(paths, TINY_IMAGENET_SIZE), np.asarray(ys, np.int64))
    return out


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


def raw_inputs(spec: dict) -> list[str]:
    """The files or folders on disk that building a dataset spec reads (none for digits and subsets)."""
    source, root = spec["source"], os.path.normpath(spec.get("root", "."))
    if source in CIFAR_LAYOUT:
        return [f"{root}/{CIFAR_LAYOUT[source][0]}"]
    if source == "cifar5m":
        return [str(cifar5m_part(root, part)) for pool in CIFAR5M_POOLS.values() for part in pool]
    if source == "tiny_imagenet":
        return [f"{root}/{TINY_IMAGENET_FOLDER}"]
    return []


def build(spec: dict, parent: str | None = None) -> dict:
    """Build the splits of a dataset spec from config (``source`` digits, cifar10, cifar100, cifar5m, tiny_imagenet or
    subset)."""
    source = spec["source"]
    if source == "digits":
        return make_digits(spec["train_size"], spec["test_size"], spec["size"], spec["seed"])
    if source in CIFAR_LAYOUT:
        return read_cifar(spec["root"], source)
    if source == "cifar5m":
        return read_cifar5m(spec["root"], spec.get("train_size"), spec.get("test_size"))
    if source == "tiny_imagenet":
        return read_tiny_imagenet(spec["root"])
    if source == "subset":
        splits, _ = load_prepared(parent)
        x, y = splits["train"]
        keep = per_class_subset(y, spec["per_class"])
        return {"train": (x[keep], y[keep]), "test": splits["test"]}
    raise ValueError(f"unknown dataset source {source!r}")
