"""Download a CIFAR archive with torchvision (which verifies its checksum) and unpack it beside its final place;
the unpacked folder is renamed into place only when complete."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

import shutil
import tempfile

from wdecay.io.joblog import phase, send_to_log, stop

send_to_log(snakemake.log[0])

import torchvision  # only this job needs torchvision

from wdecay.data import raw

folder = Path(snakemake.output[0])
dataset = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
with phase("download"):
    try:
        dataset[snakemake.params.name](root=str(staging), train=True, download=True)
        (staging / folder.name).rename(folder)
    except (OSError, RuntimeError) as error:  # no network, or torchvision's "File not found or corrupted."
        stop(raw.cifar_failed(snakemake.params.name, error))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
