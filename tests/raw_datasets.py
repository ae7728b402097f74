"""Small real datasets in their true on-disk formats: CIFAR pickle batches (torchvision's layout), CIFAR-5m .npz
parts, a Tiny-ImageNet tree and its zip archive; and a local HTTP server that publishes them (for the download
tests: nothing is fetched from the network). Used by the dataset tests and the workflow tests."""

import base64
import contextlib
import functools
import http.server
import pickle
import shutil
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_cifar(root: Path, name: str, n_per_file: int = 20, seed: int = 0, bytes_keys: bool = False) -> dict:
    """Write CIFAR pickle batches in torchvision's exact layout (cifar-10-batches-py / cifar-100-python) with random
    images; returns the arrays written as {'train': (x NHWC, y), 'test': (x, y)}."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        folder, train_files, test_file, label_key, classes = (
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            "test_batch",
            "labels",
            10,
        )
    else:
        folder, train_files, test_file, label_key, classes = "cifar-100-python", ["train"], "test", "fine_labels", 100
    base = root / folder
    base.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, files in (("train", train_files), ("test", [test_file])):
        xs, ys = [], []
        for file in files:
            data = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
            labels = rng.integers(0, classes, n_per_file).tolist()
            batch = {
                "batch_label": f"{file} of fake {name}",
                "data": data,
                label_key: labels,
                "filenames": [f"img_{i}.png" for i in range(n_per_file)],
            }
            if name == "cifar100":
                batch["coarse_labels"] = [c // 5 for c in labels]
            if bytes_keys:  # as the files look when unpickled without an encoding
                batch = {k.encode(): v for k, v in batch.items()}
            with open(base / file, "wb") as f:
                pickle.dump(batch, f, protocol=2)
            xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.array(labels))
        written[split] = (np.concatenate(xs), np.concatenate(ys))
    meta_name = "batches.meta" if name == "cifar10" else "meta"
    with open(base / meta_name, "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(classes)]}, f, protocol=2)
    return written


# --- CIFAR-5m: cifar5m_part{0..5}.npz, each with X uint8 (N, 32, 32, 3) and Y integer labels (N,) ----------------

PART_SIZES = (30, 25, 20, 20, 20, 40)


def write_cifar5m(root, sizes=PART_SIZES, compressed=False, label_dtype=np.int64, seed=0) -> list:
    """Write the parts with random images; pixel (0, 0) holds (part, index) so every image is identifiable."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    parts = []
    for part, n in enumerate(sizes):
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        x[:, 0, 0, 0], x[:, 0, 0, 1] = part, np.arange(n)
        y = rng.integers(0, 10, n).astype(label_dtype)
        (np.savez_compressed if compressed else np.savez)(root / f"cifar5m_part{part}.npz", X=x, Y=y)
        parts.append((x, y))
    return parts


# --- Tiny ImageNet: tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/..., val/..., test/images} --------------

WNIDS = ["n02", "n01", "n03"]  # listed unsorted: labels follow the sorted order n01, n02, n03
TRAIN_K = [0, 1, 10]  # file name order: _0, _1, _10
GRAY = ("n02", 1)  # this training image, and val_3, are stored as grayscale JPEGs
VAL = [("val_3", "n03"), ("val_0", "n02"), ("val_10", "n01"), ("val_1", "n01")]  # as listed, unsorted


def colour(code: int) -> tuple[int, int, int]:
    return (16 + 37 * code % 224, 240 - 23 * code % 200, 60 + 11 * code % 180)


def save_jpeg(path, rgb, gray=False, size=64):
    """A flat-coloured JPEG (nearly lossless for flat colour); grayscale ones store the colour's first channel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if gray:
        Image.new("L", (size, size), rgb[0]).save(path, quality=95)
    else:
        Image.new("RGB", (size, size), rgb).save(path, quality=95)


def write_tiny_imagenet(root) -> dict:
    """A miniature tiny-imagenet-200 tree; returns {split: [(expected flat colour, label, path), ...]} in the order
    the reader must produce."""
    base = root / "tiny-imagenet-200"
    base.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\tthing {w}, other name\n" for w in [*WNIDS, "n99"]))
    want = {"train": [], "test": []}
    for label, wnid in enumerate(sorted(WNIDS)):
        boxes = []
        for k in TRAIN_K:
            path = base / "train" / wnid / "images" / f"{wnid}_{k}.JPEG"
            rgb, gray = colour(10 * label + k), (wnid, k) == GRAY
            save_jpeg(path, rgb, gray)
            boxes.append(f"{path.name}\t0\t0\t63\t63\n")
            want["train"].append(((rgb[0],) * 3 if gray else rgb, label, path))
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(boxes))
    for i, (name, wnid) in enumerate(VAL):
        path, rgb, gray = base / "val" / "images" / f"{name}.JPEG", colour(100 + i), name == "val_3"
        save_jpeg(path, rgb, gray)
        want["test"].append(((rgb[0],) * 3 if gray else rgb, sorted(WNIDS).index(wnid), path))
    want["test"].sort(key=lambda item: item[2].name)
    (base / "val" / "val_annotations.txt").write_text("".join(f"{n}.JPEG\t{w}\t1\t2\t60\t61\n" for n, w in VAL))
    save_jpeg(base / "test" / "images" / "test_0.JPEG", (1, 2, 3))  # unlabelled: never read
    return want


def zip_tiny_imagenet(folder: Path) -> tuple[Path, dict]:
    """``folder/tiny-imagenet-200.zip`` laid out as the published archive (one top folder tiny-imagenet-200/), made
    from the miniature tree; returns it and what the reader must find in it (see write_tiny_imagenet)."""
    want = write_tiny_imagenet(folder / "tree")
    archive = folder / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((folder / "tree").rglob("*")):
            zf.write(path, path.relative_to(folder / "tree"))
    shutil.rmtree(folder / "tree")
    return archive, want


# --- a local HTTP server ----------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves its folder. ``/cut/<file>`` announces the file's length but sends half of it. The server's ``md5s``
    (file name -> 16 bytes) are reported as Google Cloud Storage reports an object's MD5 (``x-goog-hash``)."""

    def log_message(self, *args):
        pass

    def end_headers(self):
        md5 = self.server.md5s.get(Path(self.path).name)
        if md5 is not None:
            self.send_header("x-goog-hash", "crc32c=AAAAAA==")
            self.send_header("x-goog-hash", f"md5={base64.b64encode(md5).decode()}")
        super().end_headers()

    def do_GET(self):
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path[5:]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on localhost in a thread; yields (base URL, md5s to report per file name)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    httpd.md5s = {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.md5s
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    """A localhost port with nothing listening: connections to it are refused, as without a network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
