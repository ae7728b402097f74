"""Convert one dataset into prepared arrays (see wdecay.data.images)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log

send_to_log(snakemake.log[0])

from wdecay.data import images
from wdecay.io.provenance import code_version

with phase("prepare"):
    spec = snakemake.params.spec
    parent = Path(snakemake.input.parent[0]).parent if "parent" in snakemake.input.keys() else None
    splits = images.build(spec, parent)
    meta = {"name": snakemake.wildcards.dataset, **spec, "code_version": code_version()}
    images.save_prepared(Path(snakemake.output[0]).parent, splits, meta)
