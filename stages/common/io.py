"""Atomic writes: a temp file in the target directory, fsync, then ``os.replace``.

A crash or SIGKILL leaves at most a hidden ``.<name>.tmp-*`` file beside the target, never a
half-written target that DVC could cache or a later stage could read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``target``; move it onto ``target`` only if the block succeeds.

    Works for files and directories. ``suffix`` keeps extensions that writers insist on
    (Keras needs ``.keras``, numpy appends ``.npy``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    path = tmp / f"out{suffix}"
    try:
        yield path
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(path, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
