"""Fetch one file over HTTP(S) (or file://) with a checksum: streamed into a temporary file beside its final place,
verified, then renamed into place, so a broken transfer never leaves a file that looks complete.

The checksum is the MD5 the caller gives; without one, the MD5 the server reports for the object (Google Cloud
Storage's ``x-goog-hash: md5=...``, or ``Content-MD5``), if it reports one. The length is always checked against
``Content-Length``. An optional ``check`` reads the downloaded file before the rename (e.g. its array headers).
Every failure raises FetchError naming the URL and the file, and saying what to do by hand.
"""

import base64
import binascii
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..io.files import atomic_path

log = logging.getLogger(__name__)
CHUNK = 1 << 20  # bytes per read


class FetchError(RuntimeError):
    """A download that failed or did not verify; the message says what to fetch by hand, from where, to where."""


def by_hand(url: str, dest, md5: str | None = None) -> str:
    """The instruction to do a download by hand."""
    checksum = f" (md5 {md5})" if md5 else ""
    return f"Download {url}{checksum} yourself, put it at {dest}, and rerun."


def server_md5(headers) -> str | None:
    """The hex MD5 a server reports for the object (base64 in ``x-goog-hash: md5=`` or ``Content-MD5``), if any."""
    values = [part.strip() for h in headers.get_all("x-goog-hash") or [] for part in h.split(",")]
    encoded = [v[4:] for v in values if v.startswith("md5=")] + (headers.get_all("Content-MD5") or [])
    for value in encoded:
        try:
            return base64.b64decode(value, validate=True).hex()
        except (binascii.Error, ValueError):
            continue
    return None


def _stream(response, fp, total: int | None) -> tuple[int, str]:
    """Copy the response body into ``fp``; (bytes, md5 hex). Logs progress every tenth of a known length."""
    digest, size, next_report = hashlib.md5(), 0, 0.1
    while chunk := response.read(CHUNK):
        fp.write(chunk)
        digest.update(chunk)
        size += len(chunk)
        if total and size / total >= next_report:
            log.info("%d of %d MB (%.0f%%)", size >> 20, total >> 20, 100 * size / total)
            next_report += 0.1
    return size, digest.hexdigest()


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    check: Callable[[Path], object] | None = None,
    advice: str | None = None,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` (replacing it atomically) and return the file's MD5 (hex). ``advice`` replaces
    the default instruction to download by hand in the error messages."""
    dest = Path(dest)
    advice = advice or by_hand(url, dest, md5)

    def failed(problem: str) -> FetchError:
        return FetchError(f"could not fetch {url} to {dest}: {problem}. {advice}")

    for stale in dest.parent.glob(f".{dest.name}.*.tmp"):  # left by a fetch that was killed (SIGKILL, power)
        log.info("removing %s, left by an interrupted download", stale)
        stale.unlink(missing_ok=True)
    log.info("fetching %s to %s", url, dest)
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as fp:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                size, got = _stream(response, fp, total)
                reported = server_md5(response.headers)
            if total is not None and size != total:
                raise failed(f"received {size} of {total} bytes (the transfer broke off)")
            want, whose = (md5, "expected") if md5 else (reported, "the server's")
            if want and got != want.lower():
                raise failed(f"md5 {got} differs from {whose} {want} (a damaged or different file)")
            log.info("md5 %s%s", got, f" matches {whose}" if want else " (no checksum to compare: none is published)")
            if check is not None:
                try:
                    check(tmp)
                except (OSError, ValueError) as error:
                    raise failed(f"the downloaded file is not what was expected ({error})") from error
    except urllib.error.HTTPError as error:
        raise failed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise failed(f"{error.reason} (no network here? a proxy?)") from error
    except http.client.IncompleteRead as error:
        raise failed(f"the transfer broke off ({len(error.partial)} bytes of the last read arrived)") from error
    except (OSError, http.client.HTTPException) as error:
        raise failed(f"{type(error).__name__}: {error}") from error
    log.info("saved %s (%d bytes)", dest, size)
    return got
