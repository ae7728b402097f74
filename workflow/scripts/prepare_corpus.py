"""Build one token corpus (train.bin, val.bin, meta.json; see wdecay.data.tokens)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

from wdecay.io.joblog import phase, send_to_log

send_to_log(snakemake.log[0])

from wdecay.data import tokens

with phase("prepare"):
    spec = snakemake.params.spec
    if spec["source"] == "openwebtext":  # tokenise with the job's threads unless the corpus says otherwise
        spec = {"num_proc": snakemake.threads} | spec
    tokens.prepare(spec, Path(snakemake.output[0]).parent)
