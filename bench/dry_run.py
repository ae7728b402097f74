"""Benchmark: how long Snakemake takes to validate the config and plan each preset (a dry run in a scratch copy of
the workflow with no data, as on a fresh clone: the plan includes the download jobs).

.venv/bin/python bench/dry_run.py [preset ...]
"""

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def main():
    presets = sys.argv[1:] or ["tiny", "small", "paper"]
    with tempfile.TemporaryDirectory() as tmp:
        for item in ("Snakefile", "config.yaml", "workflow", "profiles", "envs"):
            (shutil.copytree if (ROOT / item).is_dir() else shutil.copy2)(ROOT / item, Path(tmp) / item)
        for preset in presets:
            start = time.perf_counter()
            out = subprocess.run(
                [SNAKEMAKE, "-n", "--quiet", "rules", "--config", f"preset={preset}"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            )
            seconds = time.perf_counter() - start
            total = re.search(r"^total\s+(\d+)$", out.stdout + out.stderr, re.M).group(1)
            print(f"{preset:6s} dry run: {total:>5s} jobs planned in {seconds:5.2f} s (whole snakemake process)")


if __name__ == "__main__":
    main()
