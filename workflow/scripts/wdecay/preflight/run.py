"""Run the pre-flight's probes, each in its own Python process (its peak memory is its own), one after another."""

import json
import math
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # workflow/scripts: this checkout's wdecay


def probe_settings(device: str, threads: int, settings: dict) -> dict:
    """What each probe process receives: its device and threads, and the sizes to time there (reduced on a CPU)."""
    common = {"device": device, "threads": threads, "cuda_probes": settings["cuda_probes"]}
    if device == "cpu":
        cpu = settings["cpu"]
        return common | {k: cpu[k] for k in cpu if k != "probes"} | {"cpu_probes": cpu["probes"]}
    return common | {"steps": settings["steps"]}


def run_probes(probes: list[dict], cfg: dict) -> dict[str, dict]:
    """{probe id: result}; a probe that fails gives {'error': its last lines} instead, and the rest still run. One
    process imports the probes' code and forks each probe from it (wdecay.preflight.probe.serve)."""
    results = {}
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    labels = {spec["id"]: spec["label"] for spec in probes}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        requests = folder / "requests.json"
        requests.write_text(json.dumps([{"probe": spec, "settings": cfg | {"tmp": tmp}} for spec in probes]))
        with open(folder / "server.log", "w") as server_log:
            server = subprocess.Popen(
                [sys.executable, "-m", "wdecay.preflight.probe", str(requests), tmp],
                env=env,
                stdout=subprocess.PIPE,
                stderr=server_log,
                text=True,
            )
            for n, line in enumerate(server.stdout, 1):
                ended = json.loads(line)
                probe_id, seconds = ended["id"], ended["wall_s"]
                out, output = folder / f"{probe_id}.json", folder / f"{probe_id}.log"
                if ended["code"] == 0 and out.exists():
                    results[probe_id] = json.loads(out.read_text()) | {"wall_s": seconds}
                    log.info("probe %d/%d %s (%s): %.1f s", n, len(probes), probe_id, labels[probe_id], seconds)
                else:
                    said = output.read_text() if output.exists() else ""
                    tail = "\n".join(said.strip().splitlines()[-5:]) or f"exit status {ended['code']}"
                    results[probe_id] = {"id": probe_id, "error": tail, "wall_s": seconds}
                    log.error("probe %s (%s) failed:\n%s", probe_id, labels[probe_id], said[-4000:])
            server.wait()
        unreached = [spec for spec in probes if spec["id"] not in results]  # the server itself failed
        if unreached:
            lost = (folder / "server.log").read_text().strip() or f"exit status {server.returncode}"
        for spec in unreached:
            results[spec["id"]] = {"id": spec["id"], "error": "\n".join(lost.splitlines()[-5:]), "wall_s": 0.0}
            log.error("probe %s (%s) did not run: %s", spec["id"], spec["label"], lost[-4000:])
    return results


def header(plan: dict, device: str, settings: dict, cpu_figures: bool) -> list[str]:
    """The report's opening: what ran where, on what data, and how the figures were made."""
    lines = [f"# Pre-flight of preset `{plan['preset']}` (protocol {plan['protocol']})", ""]
    if cpu_figures:
        lines.append(
            f"**CPU figures.** The preset's device is `{plan['device']}`; this pre-flight ran on the CPU with "
            f"{settings['cpu']['steps']} timed step(s) per kind at reduced sizes, scaled back to the jobs' sizes "
            "(the differences are listed at the end): these are not GPU hours or GPU memory."
        )
    else:
        lines.append(f"Device: `{device}`, the preset's own; {settings['steps']} timed steps per kind.")
    lines += [
        "",
        "Data: synthetic images of each dataset's exact size in pixels and class count, written as prepared arrays "
        "and read by the real loader; each job's full dataset is added to its memory (a job holds its dataset on "
        "the device). Tokens: random ids of the corpus's vocabulary in nanoGPT's layout (device-resident here; "
        "OpenWebText's 18 GB train split is memory-mapped by the real job).",
        "",
        "Hours: steps x step time + evaluations x evaluated images (or sequences) x time per image + saves x save "
        "time; a measurement job: each measure x its weight sets. Jobs counted one after another on one device. "
        f"SLURM runtime: the rule's longest job x {settings['runtime_safety']}, rounded up to 10 minutes; mem_mb: "
        f"its largest host peak x {settings['memory_safety']} in MiB, rounded up to 1000. Disk: the checkpoints "
        "a job keeps x the size of a real saved state (weights, EMAs, optimizer state), its fine-tuned model and "
        "parquet rows; a running job's resumable state adds one more checkpoint until it ends. Not timed: data, "
        "corpus, schedule, table and figure jobs (CPU jobs; OpenWebText's corpus job takes 1-2 hours).",
    ]
    return lines


def write_preflight(plan: dict, settings: dict, threads: int, table_path, report_path) -> None:
    """Run every probe of ``plan`` (jobs.preflight_plan) on the preset's device (the CPU where the preset asks for
    CUDA and there is none: CPU figures), and write the parquet table and the markdown report."""
    import torch

    from ..io import tables
    from ..io.files import atomic_path
    from ..io.provenance import code_version
    from . import bill

    wanted = plan["device"]
    device = "cuda" if wanted in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
    if device == "cpu" and wanted == "cuda":
        log.warning("preset %s runs on cuda, but CUDA is not available here: CPU figures", plan["preset"])
    cfg = probe_settings(device, threads, settings)
    results = run_probes(plan["probes"], cfg)
    good = next((r for r in results.values() if "error" not in r), {})
    context = {
        "preset": plan["preset"],
        "protocol": plan["protocol"],
        "device": device,
        "device_name": good.get("device_name", device),
        "cpu_figures": device == "cpu",
        "device_total_bytes": float(good.get("device_total_bytes", math.nan)),
        "code_version": code_version(),
    }
    rows, top, resources = bill.bill(plan, results, settings, context)
    tables.write(tables.to_table(rows, tables.PREFLIGHT), tables.PREFLIGHT, table_path)
    lines = header(plan, device, settings, device == "cpu")
    lines.insert(2, f"Ran on: {context['device_name']}, {bill.size_text(context['device_total_bytes'])} of memory.\n")
    with atomic_path(report_path) as tmp:
        Path(tmp).write_text(bill.markdown(rows, top, resources, lines, plan["probes"], results))
