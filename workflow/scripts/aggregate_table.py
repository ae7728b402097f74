"""Concatenate the per-run metrics of one family into one table (schema-checked)."""

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import tables

table = tables.concat(snakemake.input, tables.VISION_TRAIN)
tables.write(table, tables.VISION_TRAIN, snakemake.output[0])
