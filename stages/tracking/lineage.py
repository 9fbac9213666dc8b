"""What a run was trained on: DVC digests of the stage's inputs, logged as MLflow datasets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import yaml
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset

from stages.common.paths import REPO_ROOT


def dvc_md5(path: Path) -> str:
    """DVC 3's md5 of ``path``: of the bytes for a file; for a directory, of its sorted
    ``{"md5", "relpath"}`` listing, suffixed ``.dir`` (as ``dvc.lock`` records a directory)."""
    path = Path(path)
    if not path.is_dir():
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    listing = [{"md5": dvc_md5(file), "relpath": rel} for rel, file in files]
    encoded = json.dumps(listing, sort_keys=True).encode()
    return hashlib.md5(encoded, usedforsecurity=False).hexdigest() + ".dir"


def locked_md5s(lock_file: Path, stage: str) -> dict[str, str]:
    """Repo-relative path -> md5 of every stage's outs in ``lock_file`` and of ``stage``'s deps.

    Outs win over ``stage``'s own deps: ``dvc repro`` writes a stage's lock entry after running
    it, so while ``stage`` runs its deps entry is the previous run's, while an upstream stage
    run in the same repro has already recorded its fresh outs. Missing file: ``{}``.
    """
    if not lock_file.is_file():
        return {}
    with open(lock_file, encoding="utf-8") as fh:
        stages = (yaml.safe_load(fh) or {}).get("stages", {})
    entries = [*stages.get(stage, {}).get("deps", [])]
    entries += [out for entry in stages.values() for out in entry.get("outs", [])]
    return {e["path"]: e["md5"] for e in entries if "md5" in e}


def input_datasets(
    paths: Sequence[Path], *, stage: str, root: Path = REPO_ROOT
) -> list[MetaDataset]:
    """One MLflow dataset per DVC-tracked input of ``stage`` (name and source: the path
    relative to ``root``; digest: its md5 in ``root/dvc.lock``, else ``dvc_md5``).

    A file inside a directory recorded in the lock counts as that directory, once.
    """
    locked = locked_md5s(root / "dvc.lock", stage)
    found: dict[str, str] = {}
    for path in map(Path, paths):
        absolute = path.resolve()
        rel = absolute.relative_to(root) if absolute.is_relative_to(root) else absolute
        tracked = next((p for p in (rel, *rel.parents) if p.as_posix() in locked), None)
        name = (tracked or rel).as_posix()
        if name not in found:
            found[name] = locked[name] if tracked else dvc_md5(absolute)
    return [
        MetaDataset(local_source(name), name=name, digest=digest) for name, digest in found.items()
    ]


def local_source(path: str) -> DatasetSource:
    """MLflow's "local" dataset source for ``path`` (a registered source type: the UI shows it
    and ``mlflow.data.get_source`` reads it back)."""
    return get_dataset_source_from_json(json.dumps({"uri": path}), source_type="local")
