"""Atomic writes: a temp file in the target directory, fsync, then ``os.replace``.

A crash or SIGKILL leaves at most a hidden, git-ignored ``.<name>.tmp-*`` directory beside the
target, never a half-written target that DVC could cache or a later stage could read; the next
write of the same target removes it. A failure to write (full or read-only disk, a missing or
non-directory parent) raises ``OutputError`` naming the target.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stages.common.errors import StageError

# errno values that can only mean the write itself failed (not e.g. a missing input file).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# The random part of the names tempfile.mkdtemp creates.
_RANDOM_PART = r"[a-z0-9_]{8}"

log = logging.getLogger(__name__)


class OutputError(StageError):
    """An output could not be written; the message names the target and the system error."""


def output_error(target: Path, exc: OSError) -> OutputError:
    """The ``OutputError`` for ``target`` from the ``OSError`` that stopped writing it."""
    if isinstance(exc, FileExistsError):  # mkdir met a file where a directory should be
        return OutputError(f"cannot write {target}: {exc.filename} is not a directory")
    if exc.errno in _WRITE_ERRNOS:  # the temp file names in str(exc) would only confuse
        return OutputError(f"cannot write {target}: [Errno {exc.errno}] {exc.strerror}")
    return OutputError(f"cannot write {target}: {exc}")


def make_temp_dir(target: Path, *, tag: str = "") -> Path:
    """Create the hidden directory ``.<target name>.tmp-<tag><random>`` beside ``target``.

    Directories of that form left by a killed run (SIGKILL skips all clean-up) are removed
    first: they can hold a partial download of hundreds of MB. This assumes one writer per
    target at a time, which DVC's repo lock ensures for ``dvc repro``.

    Raises:
        OutputError: the parent directory cannot be created or written.
    """
    prefix = f".{target.name}.tmp-{tag}"
    stale = re.compile(re.escape(prefix) + _RANDOM_PART)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.iterdir():
            if stale.fullmatch(old.name) and old.is_dir() and not old.is_symlink():
                log.warning("removing %s, left by an interrupted run", old)
                shutil.rmtree(old)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    except OSError as exc:
        raise output_error(target, exc) from exc


@contextlib.contextmanager
def atomic_path(target: Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``target``; move it onto ``target`` only if the block succeeds.

    Works for files and directories. ``suffix`` keeps extensions that writers insist on
    (Keras needs ``.keras``, numpy appends ``.npy``).

    Raises:
        OutputError: the temp path cannot be created or moved onto ``target``, or the block
            failed for lack of space or a read-only file system. Other errors of the block
            propagate unchanged. Either way the temp path is removed and ``target`` is untouched.
    """
    target = Path(target)
    tmp = make_temp_dir(target)
    path = tmp / f"out{suffix}"
    try:
        try:
            yield path
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS:
                raise output_error(target, exc) from exc
            raise
        try:
            _publish(path, target, aside=tmp / "previous")
        except OSError as exc:
            raise output_error(target, exc) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(path: Path, target: Path, *, aside: Path) -> None:
    """Move ``path`` onto ``target``; an existing directory is first renamed to ``aside``."""
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    if not (target.is_dir() and not target.is_symlink()):
        os.replace(path, target)
        return
    # os.replace cannot replace a non-empty directory: move the old one aside (the caller
    # deletes it), and put it back if the new one cannot take its place.
    os.replace(target, aside)
    try:
        os.replace(path, target)
    except OSError:
        os.replace(aside, target)
        raise


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path, obj: Any) -> None:
    """Write ``obj`` as sorted, indented JSON with a trailing newline, atomically."""
    atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
