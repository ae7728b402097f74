"""Convert one dataset into prepared arrays (see wdecay.datasets)."""

from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import datasets
from wdecay.provenance import code_version

spec = snakemake.params.spec
parent = Path(snakemake.input.parent[0]).parent if "parent" in snakemake.input.keys() else None
splits = datasets.build(spec, parent)
meta = {"name": snakemake.wildcards.dataset, **spec, "code_version": code_version()}
datasets.save_prepared(Path(snakemake.output[0]).parent, splits, meta)
