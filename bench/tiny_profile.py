"""Benchmark: where a run's wall time goes, by job kind. Reads each job's log (its last line holds the timing that
wdecay.io.joblog writes: start-up from process start to the first phase, then setup, train, evaluate, measure,
render, read, write and other phases' seconds) and the rule benchmarks (wall and CPU seconds), and prints one row
per job kind. Its last column, a job's start-up and setup beyond ``import torch``, subtracts the import only for a
run without the warm start: a warm job forks from a server that imported torch once.

    .venv/bin/python bench/tiny_profile.py run DIR [snakemake args]   run Snakemake in DIR (a clone), then report
    .venv/bin/python bench/tiny_profile.py report DIR                 report on DIR's finished run

``run`` also records the run's wall time and the Snakemake process's own CPU time (its children excluded, sampled
each second with psutil) in DIR/results/benchmarks/snakemake.json. Logs without a timing line (older code) count
as start-up-less: only their benchmark seconds are shown.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil

PHASES = ["setup", "train", "evaluate", "measure", "read", "render", "write"]
OTHER = "other"  # the column of every other phase (prepare, schedule, download, probe)
KINDS = [  # (kind, pattern of the log path under results/ or results/as_written/)
    ("aggregate", r"logs/tables/"),
    ("claims", r"logs/claims\.log$"),
    ("data", r"logs/data/"),
    ("figure", r"logs/figures/"),
    ("schedule", r"logs/[^/]+/schedules/"),
    ("llm finetune", r"logs/L[^/]*/[^/]+/finetune/"),
    ("llm train", r"logs/L[^/]*/[^/]+/train\.log$"),
    ("finetune", r"logs/[^/]+/[^/]+/finetune/"),
    ("measure", r"logs/[^/]+/[^/]+/measure/"),
    ("train", r"logs/[^/]+/[^/]+/train\.log$"),
]


def kind_of(log: Path) -> str:
    return next((kind for kind, pattern in KINDS if re.search(pattern, log.as_posix())), "other")


def timing_of(log: Path) -> dict | None:
    lines = log.read_text(errors="replace").strip().splitlines()
    match = re.search(r" timing (\{.*\})$", lines[-1]) if lines else None
    return json.loads(match.group(1)) if match else None


def benchmark_of(results: Path, log: Path) -> dict | None:
    """The rule benchmark beside this log (results/benchmarks/ mirrors results/logs/ for the rules that have one)."""
    path = results / "benchmarks" / log.relative_to(results / "logs").with_suffix(".tsv")
    if not path.exists():
        return None
    header, values = path.read_text().splitlines()[:2]
    row = dict(zip(header.split("\t"), values.split("\t"), strict=True))
    return {"wall": float(row["s"]), "cpu": float(row["cpu_time"])}


def torch_import_seconds(python: str = sys.executable, repeats: int = 3) -> float:
    """Median wall time of ``import torch`` in a fresh interpreter (minus a bare interpreter's start)."""

    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([python, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(timed("pass") for _ in range(repeats))
    return statistics.median(timed("import torch") for _ in range(repeats)) - bare


def profile(results: Path) -> dict[str, dict]:
    """Sums per job kind: jobs, wall and CPU seconds (benchmarks, else the log's total), start-up and phases."""
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for log in sorted(results.glob("**/logs/**/*.log")):
        base = results / "as_written" if "as_written" in log.relative_to(results).parts[:1] else results
        kind, timing, bench = kind_of(log), timing_of(log), benchmark_of(base, log)
        row = rows[kind]
        row["jobs"] += 1
        if bench:
            row["wall"] += bench["wall"]
            row["cpu"] += bench["cpu"]
        elif timing and timing.get("total"):
            row["wall"] += timing["total"]
        if timing and timing.get("startup") is not None:
            row["timed"] += 1
            row["startup"] += timing["startup"]
            for phase, seconds in timing.items():
                if phase not in ("startup", "total"):
                    row[phase if phase in PHASES else OTHER] += seconds
    return rows


def table(rows: dict[str, dict], torch_import: float | None) -> str:
    columns = ["jobs", "wall", "cpu", "startup", *PHASES, OTHER]
    header = "| kind | " + " | ".join(columns) + " | start-up/job | beyond torch/job |"
    lines = [header, "|---" * (len(columns) + 3) + "|"]
    total = defaultdict(float)
    for kind in sorted(rows, key=lambda k: -rows[k]["wall"]):
        row = rows[kind]
        for c in [*columns, "timed"]:
            total[c] += row[c]
        lines.append(_line(kind, row, columns, torch_import))
    lines.append(_line("**all**", total, columns, torch_import))
    return "\n".join(lines)


def _line(kind: str, row: dict, columns: list[str], torch_import: float | None) -> str:
    per_job = row["startup"] / row["timed"] if row["timed"] else None
    setup = row["setup"] / row["timed"] if row["timed"] else 0.0
    beyond = per_job + setup - torch_import if per_job is not None and torch_import is not None else None
    cells = [f"{row[c]:.0f}" if c == "jobs" else f"{row[c]:.1f}" for c in columns]
    cells += [f"{per_job:.2f}" if per_job is not None else "", f"{beyond:.2f}" if beyond is not None else ""]
    return f"| {kind} | " + " | ".join(cells) + " |"


def run(workdir: Path, args: list[str]) -> dict:
    """Run Snakemake in ``workdir``; its wall time and its own CPU seconds (children excluded)."""
    snakemake = str(Path(sys.executable).parent / "snakemake")
    start = time.perf_counter()
    proc = psutil.Popen([snakemake, "--cores", "2", *args], cwd=workdir)
    own = None
    while proc.poll() is None:
        try:
            times = proc.cpu_times()
            own = times.user + times.system
        except psutil.NoSuchProcess:
            break
        time.sleep(1.0)
    record = {"wall": time.perf_counter() - start, "snakemake_cpu": own, "returncode": proc.returncode}
    record["warmstart"] = os.environ.get("WDECAY_WARMSTART") != "0"  # the Snakefile's default: on for a local run
    (workdir / "results" / "benchmarks").mkdir(parents=True, exist_ok=True)
    (workdir / "results" / "benchmarks" / "snakemake.json").write_text(json.dumps(record))
    return record


def main():
    mode, workdir, *args = sys.argv[1:]
    workdir = Path(workdir)
    if mode == "run":
        record = run(workdir, args)
        if record["returncode"]:
            sys.exit(f"snakemake failed with exit code {record['returncode']}")
    results = workdir / "results"
    record_path = results / "benchmarks" / "snakemake.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    torch_import = torch_import_seconds()
    warm = record.get("warmstart", False)
    print(table(profile(results), 0.0 if warm else torch_import))
    print(f"\nimport torch: {torch_import:.2f} s (median of 3, beyond a bare interpreter)")
    if warm:
        print("warm start: on (jobs fork from a server that imported torch; nothing subtracted from their start-up)")
    if record:
        cpu = record["snakemake_cpu"]
        print(f"run wall time: {record['wall']:.0f} s; Snakemake process's own CPU: {cpu:.0f} s")


if __name__ == "__main__":
    main()
