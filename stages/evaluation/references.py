"""``stages/references.yaml``: the reference number of every model family, by task.

``compare`` reports each family beside its reference; tests/unit/test_registry.py checks that
the file names the families of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.common.errors import StageError
from stages.common.paths import REPO_ROOT

REFERENCES_FILE = REPO_ROOT / "stages" / "references.yaml"
# The tasks of compare's report, and the confusion-matrix counts a sentiment reference may give.
TASKS = ("sentiment", "translation")
CONFUSION = ("tn", "fp", "fn", "tp")


class ReferencesError(StageError):
    """``references.yaml`` is missing a task or family, or an entry is malformed."""


@dataclass(frozen=True)
class Reference:
    """A family's reference number: ``accuracy`` (exact match for translators) from ``source``."""

    source: str
    anchor: str
    accuracy: float
    confusion: dict[str, int] | None = None


def load_references(path: Path = REFERENCES_FILE) -> dict[str, dict[str, Reference]]:
    """``{task: {family: Reference}}`` from ``references.yaml``.

    Raises:
        ReferencesError: a task or a family entry is missing, unknown or of the wrong type.
    """
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict) or sorted(raw) != sorted(TASKS):
        raise ReferencesError(f"{path}: top-level keys must be {', '.join(TASKS)}")
    refs: dict[str, dict[str, Reference]] = {}
    for task in TASKS:
        if not isinstance(raw[task], dict) or not raw[task]:
            raise ReferencesError(f"{path}: {task}: must map family names to references")
        refs[task] = {family: _reference(path, f"{task}.{family}", entry)
                      for family, entry in raw[task].items()}
    return refs


def _reference(path: Path, key: str, entry: Any) -> Reference:
    try:
        ref = Reference(**entry)
    except TypeError as exc:  # not a mapping, or a missing or unknown key
        raise ReferencesError(f"{path}: {key}: {exc}") from exc
    if not (isinstance(ref.accuracy, (int, float)) and 0.0 <= ref.accuracy <= 1.0):
        raise ReferencesError(f"{path}: {key}.accuracy: must be a number in [0, 1]")
    if ref.confusion is not None and sorted(ref.confusion) != sorted(CONFUSION):
        raise ReferencesError(f"{path}: {key}.confusion: needs exactly {', '.join(CONFUSION)}")
    return ref
