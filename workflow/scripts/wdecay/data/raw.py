"""The raw datasets on disk: where each is published, where the workflow puts it, and how it gets there.

A raw dataset missing under its default root (resources/...) is fetched there by a download job:
- CIFAR-10/100: torchvision's download, which checks the archive's MD5 (download_cifar.py).
- CIFAR-5m (Nakkiran et al., "The Deep Bootstrap"): the six parts ``part{0..5}.npz`` of the public Google Cloud
  Storage bucket ``gs://gresearch/cifar5m`` (README of github.com/preetum/cifar5m), over its anonymous HTTPS
  endpoint, each saved as ``cifar5m_part{i}.npz``. The authors publish no checksums: a part is checked against the
  MD5 the bucket reports for it (when it reports one), its length, and its array headers (X uint8 (N, 32, 32, 3),
  Y (N,)) before it is renamed into place.
- Tiny-ImageNet: CS231n's ``tiny-imagenet-200.zip`` with its widely used MD5 (the same in torchvision-style
  loaders such as ContinualAI/avalanche's), unzipped into place.
A raw dataset missing under a root set elsewhere is not fetched (the workflow writes only into its own folder;
a wrong root is the likelier cause): its job stops with what to download, from where, and where to put it.
Whatever is already in place is never fetched again (the download rules match missing files only).
"""

import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from . import images
from .fetch import FetchError, fetch

log = logging.getLogger(__name__)

DEFAULT_ROOTS = {
    "cifar10": "resources/cifar",
    "cifar100": "resources/cifar",
    "cifar5m": "resources/cifar5m",
    "tiny_imagenet": "resources/tiny-imagenet",
}
CIFAR_ARCHIVES = {  # torchvision's URLs and MD5s (the ones https://www.cs.toronto.edu/~kriz/cifar.html lists)
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}
CIFAR5M_URL = "https://storage.googleapis.com/gresearch/cifar5m/part{part}.npz"
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FETCH_KEYS = ("url", "md5")  # dataset keys that say where raw files come from, not what the prepared data are


def downloadable(spec: dict) -> bool:
    """Whether a raw dataset is fetched by the workflow when missing: one kept under its default root."""
    root = spec.get("root")
    return root is not None and os.path.normpath(root) == DEFAULT_ROOTS.get(spec["source"])


def missing(paths) -> list[str]:
    """The paths (files or folders) that do not exist."""
    return [p for p in paths if not os.path.exists(p)]


def missing_names(root: str, names) -> list[str]:
    """The names of ``names`` (files or folders) that ``root`` lacks."""
    return [name for name in names if not os.path.exists(os.path.join(root, name))]


def missing_cifar5m_parts(root: str) -> list[str]:
    """The numbers of the CIFAR-5m parts that ``root`` lacks, as strings (the download rule's wildcard)."""
    parts = [part for pool in images.CIFAR5M_POOLS.values() for part in pool]
    return [str(part) for part in parts if not images.cifar5m_part(root, part).exists()]


def prepared_spec(spec: dict) -> dict:
    """A dataset spec without its download settings: what the prepare job depends on (a new mirror URL does
    not rebuild prepared data)."""
    return {k: v for k, v in spec.items() if k not in FETCH_KEYS}


def instructions(name: str, spec: dict, key: str) -> str:
    """What to download, from where, and where to put it, for a raw dataset not found under its root (``key``: the
    dataset's key path in the config)."""
    source, root = spec["source"], os.path.normpath(spec["root"])
    if source in CIFAR_ARCHIVES:
        url, md5 = CIFAR_ARCHIVES[source]
        what = f"download {url} (md5 {md5}) and unpack it into {root}/ (giving {images.raw_inputs(spec)[0]}/)"
    elif source == "cifar5m":
        url = spec.get("url", CIFAR5M_URL)
        parts = ", ".join(url.format(part=p) for p in range(6))
        what = f"download {parts} and save part<i>.npz as {root}/cifar5m_part<i>.npz (about 15 GB in all)"
    else:
        url, md5 = spec.get("url", TINY_IMAGENET_URL), spec.get("md5", TINY_IMAGENET_MD5)
        what = f"download {url} (md5 {md5}) and unzip it into {root}/ (giving {root}/tiny-imagenet-200/wnids.txt)"
    return (
        f"dataset {name!r} ({source}): not found under its root {root}: missing "
        f"{', '.join(missing(images.raw_inputs(spec)))}. Either {what}, or point {key}.root at the folder that holds "
        f"it, or remove that root to let the workflow download it into {DEFAULT_ROOTS[source]}."
    )


def cifar_failed(source: str, error: Exception) -> str:
    """The message for a CIFAR download (torchvision's) that failed: what to fetch by hand, to where."""
    url, md5 = CIFAR_ARCHIVES[source]
    root, folder = DEFAULT_ROOTS[source], images.CIFAR_LAYOUT[source][0]
    return (
        f"could not download {source} into {root} with torchvision ({type(error).__name__}: {error}). Download "
        f"{url} (md5 {md5}) yourself, unpack it into {root}/ (giving {root}/{folder}/), and rerun."
    )


def fetch_cifar5m_part(url_template: str, root, part: int) -> str:
    """Fetch CIFAR-5m part ``part`` to ``root/cifar5m_part{part}.npz``, checking its array headers."""
    url, dest = url_template.format(part=part), images.cifar5m_part(root, part)
    log.info("CIFAR-5m part %d: no published checksum; checked against the server's MD5 and its arrays", part)
    return fetch(url, dest, check=images.cifar5m_part_size)


def fetch_tiny_imagenet(url: str, md5: str, root) -> None:
    """Fetch tiny-imagenet-200.zip (checking its MD5), unzip it beside ``root/tiny-imagenet-200`` and rename the
    complete folder into place; the archive is deleted."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / images.TINY_IMAGENET_FOLDER
    advice = f"Download {url} (md5 {md5}) yourself, unzip it into {root}/ (giving {target}/wnids.txt), and rerun."
    for stale in root.glob(f".{target.name}.*"):  # left by a download that was killed
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        archive = staging / "tiny-imagenet-200.zip"
        fetch(url, archive, md5=md5, advice=advice)
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging / "unzipped")
        except (zipfile.BadZipFile, OSError) as error:
            raise FetchError(f"could not unzip {archive} (from {url}): {error}. {advice}") from error
        unpacked = staging / "unzipped" / images.TINY_IMAGENET_FOLDER
        if not (unpacked / "wnids.txt").is_file():
            raise FetchError(f"{url} holds no {images.TINY_IMAGENET_FOLDER}/wnids.txt. {advice}")
        unpacked.rename(target)
        log.info("unpacked %s", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
