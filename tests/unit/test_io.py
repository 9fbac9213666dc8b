"""Atomic writes leave either the complete new content or the old one, never a partial file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.common.io import atomic_path, atomic_write_json, atomic_write_text


def test_atomic_write_json_sorted_with_newline(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "m.json"
    atomic_write_json(target, {"b": 1, "a": "한"})
    assert target.read_text(encoding="utf-8") == '{\n  "a": "한",\n  "b": 1\n}\n'
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "한", "b": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.json"]


def test_failed_write_keeps_old_content_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_replaces_whole_tree(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_bytes(b"x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.bin").write_bytes(b"y")
    assert [p.name for p in target.iterdir()] == ["new.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_suffix_is_kept_for_writers_that_need_it(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "m.keras", suffix=".keras") as tmp:
        assert tmp.suffix == ".keras"
        tmp.write_bytes(b"k")
    assert (tmp_path / "m.keras").read_bytes() == b"k"
