"""SHA-256 helpers and the error raised when a downloaded file is not the expected one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stages.common.errors import StageError


class ChecksumError(StageError):
    """A file's checksum or content fingerprint differs from the recorded one."""


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_digest(path: Path | str, *, kind: str, expected: str, actual: str) -> None:
    """Raise ``ChecksumError`` naming ``path``, ``kind`` and both values unless they are equal.

    Args:
        path: the file the digest was computed over (named in the message).
        kind: what was compared, e.g. ``"sha256"`` or ``"content fingerprint"``.
        expected: the recorded value.
        actual: the computed value.
    """
    if actual != expected:
        raise ChecksumError(f"{path}: {kind} mismatch: expected {expected}, got {actual}")
