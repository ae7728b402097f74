"""The bill of a pre-flight: each job's hours, memory and disk from its work and the costs its probes measured;
one row per family, rule and job kind; the ten most expensive jobs; and the SLURM resources per rule
(``set-resources`` of profiles/slurm), as parquet rows and a markdown report."""

import math

import yaml

MEASURE_ROW_BYTES = 400  # a measurement row in parquet (a few numbers and ids): the measure tables are small
GIB = 2**30


def job_cost(job: dict, results: dict) -> dict | None:
    """{seconds, peak, host, disk} of one job of ``job``'s entry; None if a probe it needs failed."""
    work = job["work"]
    if job["rule"] == "measure":
        parts = [(results[p["probe"]], p["weights"]) for p in work["parts"]]
        if any("error" in r for r, _ in parts):
            return None
        return {
            "seconds": sum(r["seconds"] * n for r, n in parts),
            "peak": max(r["peak_bytes"] for r, _ in parts),
            "host": max(r["host_peak_bytes"] for r, _ in parts),
            "disk": work["rows"] * MEASURE_ROW_BYTES,
        }
    r = results[job["probe"]]
    if "error" in r:
        return None
    if r["unit"] == "step":  # vision training or fine-tuning
        seconds = work["steps"] * r["step_s"] + work["evals"] * work["eval_images"] * r["eval_s_per_image"]
        disk = work["checkpoints"] * r["checkpoint_bytes"] + (r["model_bytes"] if job["rule"] == "finetune" else 0)
    else:  # a language model
        seconds = work["iters"] * r["step_s"] + work["evals"] * work["eval_sequences"] * r["eval_s_per_sequence"]
        disk = work["checkpoints"] * r["checkpoint_bytes"]
    return {
        "seconds": seconds + work["saves"] * r["save_s"],
        "peak": r["peak_bytes"],
        "host": r["host_peak_bytes"],
        "disk": disk + work["rows"] * r["row_bytes"],
    }


def _probe_ids(job: dict) -> list[str]:
    return [p["probe"] for p in job["work"]["parts"]] if job["rule"] == "measure" else [job["probe"]]


def slurm_resources(rows: list[dict], runtime_safety: float, memory_safety: float) -> dict[str, dict]:
    """{rule: {runtime, mem_mb}}: the rule's longest job x runtime_safety (minutes, up to a multiple of 10) and its
    largest host peak x memory_safety (MiB, up to a multiple of 1000)."""
    out = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        minutes = math.ceil(row["hours_max"] * 60 * runtime_safety / 10) * 10
        mem = math.ceil(row["host_peak_bytes"] * memory_safety / 2**20 / 1000) * 1000
        got = out.setdefault(row["rule"], {"runtime": 10, "mem_mb": 1000})
        got["runtime"], got["mem_mb"] = max(got["runtime"], minutes), max(got["mem_mb"], mem)
    return out


def bill(plan: dict, results: dict, settings: dict, context: dict) -> tuple[list[dict], list[dict], dict]:
    """(rows per family/rule/kind, the ten most expensive jobs, set-resources) of ``plan`` (jobs.preflight_plan)
    from the probes' ``results``; ``context`` holds the row fields every row shares (preset, device, ...)."""
    rows, singles = [], []
    by_kind: dict[tuple, list] = {}
    for job in plan["jobs"]:
        by_kind.setdefault((job["family"], job["rule"], job["kind"]), []).append(job)
    for (family, rule, kind), entries in by_kind.items():
        probes = list(dict.fromkeys(p for e in entries for p in _probe_ids(e)))
        costs = [(e, job_cost(e, results)) for e in entries]
        failed = [results[p]["error"] for p in probes if "error" in results[p]]
        count = sum(len(e["jobs"]) for e in entries)
        row = {"family": family, "rule": rule, "kind": kind, "probe": ", ".join(probes), "jobs": count}
        first = results[probes[0]]
        row |= {
            "unit": first.get("unit", ""),
            "unit_s": first.get("step_s", first.get("seconds", math.nan)) if len(probes) == 1 else math.nan,
            "timed": "; ".join(f"{p}: {results[p].get('timed', '')}" for p in probes),
            "notes": "; ".join(dict.fromkeys(n for p in probes for n in results[p].get("notes", []))),
            "status": "ok" if not failed else f"failed: {failed[0].splitlines()[-1]}",
        }
        if failed:
            nan = math.nan
            row |= dict.fromkeys(
                [
                    "hours_per_job",
                    "hours_max",
                    "hours_total",
                    "peak_bytes",
                    "headroom_bytes",
                    "host_peak_bytes",
                    "disk_bytes_per_job",
                    "disk_bytes_total",
                ],
                nan,
            )
        else:
            hours = [(c["seconds"] / 3600, len(e["jobs"])) for e, c in costs]
            total = sum(h * n for h, n in hours)
            peak = max(c["peak"] for _, c in costs)
            disk = sum(c["disk"] * len(e["jobs"]) for e, c in costs)
            row |= {
                "hours_per_job": total / count,
                "hours_max": max(h for h, _ in hours),
                "hours_total": total,
                "peak_bytes": peak,
                "headroom_bytes": context["device_total_bytes"] - peak,
                "host_peak_bytes": max(c["host"] for _, c in costs),
                "disk_bytes_per_job": disk / count,
                "disk_bytes_total": disk,
            }
            singles += [(c["seconds"] / 3600, family, rule, name) for e, c in costs for name in e["jobs"]]
        rows.append(context | row)
    resources = slurm_resources(rows, settings["runtime_safety"], settings["memory_safety"])
    for row in rows:
        got = resources.get(row["rule"], {})
        row |= {"runtime_min": got.get("runtime"), "mem_mb": got.get("mem_mb")}
    top = [{"hours": h, "family": f, "rule": r, "job": n} for h, f, r, n in sorted(singles, reverse=True)[:10]]
    return rows, top, resources


def resources_block(resources: dict) -> str:
    """The ``set-resources:`` entry of profiles/slurm/config.yaml, as YAML."""
    return yaml.safe_dump({"set-resources": resources}, sort_keys=False)


def size_text(n: float) -> str:
    if n is None or math.isnan(n):
        return "-"
    sign, n = ("-" if n < 0 else ""), abs(n)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{sign}{n / scale:.3g} {unit}"
    return f"{sign}{n:.0f} B"


def _hours(h: float) -> str:
    return "-" if h is None or math.isnan(h) else f"{h:.3g}"


def markdown(rows: list[dict], top: list[dict], resources: dict, header: list[str], probes: list, results: dict) -> str:
    """The report: the header lines, totals, the table per family and kind, the ten most expensive jobs, the SLURM
    block and what each probe timed."""
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [*header, ""]
    lines.append(
        f"Totals: {sum(r['jobs'] for r in rows)} jobs, {_hours(sum(r['hours_total'] for r in ok))} hours one after "
        f"another on this device, {size_text(sum(r['disk_bytes_total'] for r in ok))} of outputs."
    )
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines.append(
            f"**{len(failed)} job kinds failed their probe**: "
            + "; ".join(f"{r['family']} {r['kind']}: {r['status']}" for r in failed)
        )
    lines += ["", "## Per family and job kind", ""]
    columns = [
        "family",
        "rule",
        "kind",
        "jobs",
        "h/job",
        "h max",
        "h total",
        "peak mem",
        "head-room",
        "host peak",
        "disk/job",
        "disk total",
        "runtime",
        "mem_mb",
    ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + " --- |" * len(columns))
    for r in rows:
        cells = [r["family"], r["rule"], r["kind"], r["jobs"]]
        cells += [_hours(r[k]) for k in ("hours_per_job", "hours_max", "hours_total")]
        cells += [size_text(r[k]) for k in ("peak_bytes", "headroom_bytes", "host_peak_bytes")]
        cells += [size_text(r[k]) for k in ("disk_bytes_per_job", "disk_bytes_total")]
        cells += [r["runtime_min"] or "-", r["mem_mb"] or "-"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += ["", "## The ten most expensive jobs", "", "| hours | family | rule | job |", "| --- | --- | --- | --- |"]
    lines += [f"| {_hours(t['hours'])} | {t['family']} | {t['rule']} | {t['job']} |" for t in top]
    lines += ["", "## SLURM resources", "", "For profiles/slurm/config.yaml (runtime in minutes, mem_mb in MiB):", ""]
    lines += ["```yaml", resources_block(resources).rstrip(), "```", "", "## What each probe timed", ""]
    for p in probes:
        r = results[p["id"]]
        what = f"failed: {r['error'].splitlines()[-1]}" if "error" in r else r["timed"]
        if "first_step_s" in r:  # the first step pays for cuDNN's and torch.compile's first calls
            what += f"; first {r['unit']} {r['first_step_s']:.3g} s, then {r['step_s']:.3g} s"
        lines.append(f"- {p['id']} ({p['label']}): {what} ({r['wall_s']:.0f} s)")
    notes = sorted({n for r in rows for n in r["notes"].split("; ") if n})
    if notes:
        lines += ["", "Differences from the real jobs:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
