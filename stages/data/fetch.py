"""Obtain an input file: copy it from the offline mirror, or download it over HTTP.

The mirror (``$NLP_DATA_MIRROR``) is looked up by the official file name. Downloads stream with
a progress bar, retry connection errors, stalls (read timeout) and 5xx answers with backoff, and
reject anything but a complete 200 answer with a binary body (an HTML page is recognized by its
Content-Type or its first bytes). A retry restarts the transfer from the first byte. Either way
the file is written through ``atomic_path``: a failed or interrupted transfer leaves nothing at
``dest``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

import requests
from tqdm import tqdm

from stages.common.errors import StageError
from stages.common.io import atomic_path

MIRROR_ENV = "NLP_DATA_MIRROR"
_CHUNK = 1 << 20
_HTML_STARTS = (b"<!doctype html", b"<html")

log = logging.getLogger(__name__)


class FetchError(StageError):
    """A file could not be obtained from the mirror or the URL."""


class _RetryableError(Exception):
    """A transient failure (connection, timeout, 5xx, short body): worth another try."""


def mirror_from_env() -> Path | None:
    """The mirror directory named by ``$NLP_DATA_MIRROR``, or None when unset or empty."""
    value = os.environ.get(MIRROR_ENV, "")
    return Path(value) if value else None


def _copy_from_mirror(mirror: Path, filename: str, dest: Path) -> None:
    src = Path(mirror) / filename
    if not src.is_file():
        raise FetchError(
            f"mirror file not found: {src} ({MIRROR_ENV}={mirror}; unset {MIRROR_ENV} "
            "to download from the official URL)"
        )
    log.info("copying %s (%d bytes) from the mirror", src, src.stat().st_size)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _check_response(url: str, resp: requests.Response) -> int | None:
    """Raise on a bad status or an HTML body; return the announced length (None if unknown)."""
    if resp.status_code >= 500:
        raise _RetryableError(f"HTTP {resp.status_code} {resp.reason}")
    if resp.status_code != 200:
        raise FetchError(f"{url}: HTTP {resp.status_code} {resp.reason}")
    content_type = resp.headers.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() == "text/html":
        raise _html_page(url, content_type)
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _html_page(url: str, content_type: str) -> FetchError:
    return FetchError(
        f"{url}: got an HTML page (Content-Type: {content_type}) instead of the data file; "
        "the URL may have moved or need a login"
    )


def _looks_like_html(chunk: bytes) -> bool:
    """True if a body starts like an HTML page (no input file does; some servers send error or
    login pages with a binary Content-Type)."""
    return chunk[:64].lstrip().lower().startswith(_HTML_STARTS)


def _download_once(url: str, filename: str, dest: Path, timeout: tuple[float, float]) -> None:
    # identity: a server must not gzip the body, so Content-Length counts the file's bytes.
    headers = {"Accept-Encoding": "identity"}
    try:
        with requests.get(url, stream=True, timeout=timeout, headers=headers) as resp:
            expected = _check_response(url, resp)
            received = 0
            with open(dest, "wb") as fh, tqdm(
                total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                desc=filename, file=sys.stderr, mininterval=1.0,
            ) as bar:
                for chunk in resp.iter_content(_CHUNK):
                    if not received and _looks_like_html(chunk):
                        raise _html_page(url, resp.headers.get("Content-Type", ""))
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except requests.exceptions.ChunkedEncodingError as exc:
        raise _RetryableError(f"body ended early or is malformed: {exc}") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _RetryableError(f"{type(exc).__name__}: {exc}") from exc
    except requests.RequestException as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if expected is not None and received != expected:
        raise _RetryableError(f"short body: received {received} of {expected} bytes")


def _download(
    url: str, filename: str, dest: Path, *, timeout: tuple[float, float], tries: int,
    backoff: float,
) -> None:
    with atomic_path(dest) as tmp:
        for attempt in range(1, tries + 1):
            try:
                _download_once(url, filename, tmp, timeout)
                break
            except _RetryableError as exc:
                if attempt == tries:
                    raise FetchError(f"{url}: failed after {tries} attempts: {exc}") from exc
                delay = backoff * 2 ** (attempt - 1)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s",
                            url, attempt, tries, exc, delay)
                time.sleep(delay)
        log.info("downloaded %s (%d bytes)", url, tmp.stat().st_size)


def fetch(
    url: str,
    filename: str,
    dest: Path,
    *,
    mirror: Path | None,
    timeout: tuple[float, float] = (15.0, 60.0),
    tries: int = 3,
    backoff: float = 2.0,
) -> Path:
    """Write the input ``filename`` to ``dest``, from ``mirror`` if given, else from ``url``.

    Args:
        url: official download URL (used when ``mirror`` is None).
        filename: the file's name in the mirror directory.
        dest: where to write it (atomically).
        mirror: offline mirror directory (see ``mirror_from_env``), or None to download.
        timeout: (connect, read) timeouts in seconds for each HTTP attempt.
        tries: HTTP attempts before giving up on transient errors.
        backoff: seconds before the first retry; doubled for each further retry.

    Returns:
        ``dest``.

    Raises:
        FetchError: missing mirror file, non-200 status, HTML body, short body, or connection
            failures on every try. The message names the path or URL.
    """
    dest = Path(dest)
    if mirror is not None:
        _copy_from_mirror(Path(mirror), filename, dest)
    else:
        log.info("downloading %s", url)
        _download(url, filename, dest, timeout=timeout, tries=tries, backoff=backoff)
    return dest
