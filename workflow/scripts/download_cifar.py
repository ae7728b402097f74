"""Download a CIFAR archive with torchvision (which verifies its checksum) and unpack it in place."""

from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

import torchvision  # only this job needs torchvision

folder = Path(snakemake.output[0])
dataset = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
dataset[snakemake.params.name](root=str(folder.parent), train=True, download=True)
