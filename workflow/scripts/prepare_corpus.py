"""Build one token corpus (train.bin, val.bin, meta.json; see wdecay.tokens)."""

from pathlib import Path

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import tokens

tokens.prepare(snakemake.params.spec, Path(snakemake.output[0]).parent)
