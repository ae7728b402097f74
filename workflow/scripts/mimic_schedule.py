"""The per-iteration rates under which a run without WD has the effective rate of a run with WD (NeurIPS Fig 7),
from the weight norms logged by the mimicked runs (see wdecay.training.schedules.mimic_schedule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # this checkout's wdecay, ahead of any installed copy

import json

from wdecay.io.joblog import phase, send_to_log

send_to_log(snakemake.log[0])

from wdecay.training import schedules
from wdecay.io import tables
from wdecay.io.files import atomic_path
from wdecay.io.provenance import code_version

with phase("schedule"):
    family, lr, wd, reference = snakemake.params.mimic
    s = snakemake.params.settings
    frame = tables.concat(snakemake.input, tables.LLM_TRAIN).to_pandas()
    norms = frame.groupby(["wd", "step"]).weight_norm.mean()  # mean over seeds and precisions
    steps = sorted(set(norms[wd].index) & set(norms[reference].index))
    with_wd, without = [float(norms[wd][t]) for t in steps], [float(norms[reference][t]) for t in steps]
    base = schedules.rates(s["schedule"], lr, s["max_iters"], s["warmup"], s["lr_decay_iters"], s["min_lr_ratio"])
    rates = schedules.mimic_schedule(base, steps, without, with_wd)
    record = {"family": family, "lr": lr, "wd": wd, "reference_wd": reference, "runs": sorted(set(frame.run_id))}
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(record | {"code_version": code_version(), "settings": s, "rates": rates}))
