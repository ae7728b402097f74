"""The pre-flight of a preset: one short real job of every job kind on the preset's device, and the bill (hours,
memory, disk, SLURM resources) projected from it. ``jobs`` is torch-free (the Snakemake process calls it)."""
