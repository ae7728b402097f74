"""Atomic file writes: a killed job never leaves a half-written file that a later job would read."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it is flushed to disk and renamed onto ``path``, on error
    removed. A reader sees the old file or the complete new one, even after a crash of the node."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def link_or_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Hard-link ``src`` to ``dst`` (a copy where links are impossible), replacing ``dst`` atomically."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)


class DamagedFile(ValueError):
    """An input file that exists but cannot be read (cut short, overwritten, not what its name says)."""


def damaged(path, problem: str, remedy: str) -> DamagedFile:
    """The error for a damaged input file: its path, what failed, and what to do."""
    return DamagedFile(f"{path}: {problem}; the file is damaged or cut short. {remedy}")


def rebuild_hint(path, writer: str) -> str:
    """What to do about a damaged file that a job of the workflow wrote (``writer``: which job, in words)."""
    return (
        f"Delete it and rerun, or add `--forcerun {path}` to the snakemake command: that reruns the job that wrote "
        f"it ({writer}) and the jobs that read it."
    )
