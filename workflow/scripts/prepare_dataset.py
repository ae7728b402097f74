"""Convert one dataset into prepared arrays (see wdecay.data.images)."""

from pathlib import Path

from wdecay.io.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay.data import images
from wdecay.io.provenance import code_version

spec = snakemake.params.spec
parent = Path(snakemake.input.parent[0]).parent if "parent" in snakemake.input.keys() else None
splits = images.build(spec, parent)
meta = {"name": snakemake.wildcards.dataset, **spec, "code_version": code_version()}
images.save_prepared(Path(snakemake.output[0]).parent, splits, meta)
