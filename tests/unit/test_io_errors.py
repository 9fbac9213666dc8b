"""Write failures (no space, read-only disk, a file where a directory should be) -> OutputError
naming the target, the previous output intact, no temp debris; debris of killed runs is removed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from stages.common import io
from stages.common.io import OutputError, atomic_path, atomic_write_json, atomic_write_text

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_parent_is_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "metrics").write_text("not a directory")
    target = tmp_path / "metrics" / "plots" / "m.json"
    with pytest.raises(OutputError) as err:
        atomic_write_json(target, {"a": 1})
    assert str(err.value) == (
        f"cannot write {target}: [Errno 20] Not a directory: '{tmp_path / 'metrics' / 'plots'}'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics"]


def test_disk_full_at_rename_keeps_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    def full(src: Path, dst: Path) -> None:
        raise ENOSPC

    monkeypatch.setattr(io.os, "replace", full)
    with pytest.raises(OutputError, match=rf"^cannot write {target}: \[Errno 28\] No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_disk_full_while_writing_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(OutputError, match=rf"^cannot write {target}: \[Errno 28\]"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "part.bin").write_bytes(b"half")
            raise ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_of_the_block_propagate_unchanged(tmp_path: Path) -> None:
    # A missing input read inside the block is not a write failure: no misleading message.
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text((tmp_path / "missing-input.txt").read_text())
    assert list(tmp_path.iterdir()) == []


def test_failed_directory_swap_restores_the_old_directory(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights.bin").write_bytes(b"old")
    real_replace = os.replace
    calls: list[Path] = []

    def second_fails(src: Path, dst: Path) -> None:
        calls.append(Path(dst))
        if len(calls) == 2:  # old moved aside; the new one cannot take its place
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", second_fails)
    with pytest.raises(OutputError, match=r"\[Errno 5\] Input/output error"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "weights.bin").write_bytes(b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert (target / "weights.bin").read_bytes() == b"old"


def test_next_write_removes_temp_dirs_a_killed_run_left(tmp_path: Path, caplog) -> None:
    stale = tmp_path / ".out.txt.tmp-k1ll3d_x"
    stale.mkdir()
    (stale / "out").write_bytes(b"partial")
    others = [tmp_path / ".out.txt.tmp-download-abcd1234", tmp_path / ".other.txt.tmp-abcd1234",
              tmp_path / ".out.txt.tmp-not-mkdtemp"]
    for path in others:
        path.mkdir()
    atomic_write_text(tmp_path / "out.txt", "new")
    assert sorted(tmp_path.iterdir()) == sorted([tmp_path / "out.txt", *others])
    assert f"removing {stale}, left by an interrupted run" in caplog.text
