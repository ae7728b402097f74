"""Render one figure from its parquet tables: pdf, png and the exact data drawn."""

from wdecay.joblog import send_to_log

send_to_log(snakemake.log[0])

from wdecay import plotting, tables

frame = tables.concat(snakemake.input, tables.VISION_TRAIN).to_pandas()
fig, data = plotting.render(snakemake.params.spec, frame)
plotting.save(fig, data, snakemake.output.pdf, snakemake.output.png, snakemake.output.data)
