"""Code version stamped into every output: the package version plus a hash of the package's sources."""

import functools
import hashlib
from pathlib import Path

from .. import __version__


@functools.cache
def code_version() -> str:
    digest, root = hashlib.sha256(), Path(__file__).parents[1]  # the whole wdecay package
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:10]}"
