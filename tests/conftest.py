"""Shared fixtures: the repo root, a random generator, the offline mirror, an MLflow store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shared_mirror() -> Path:
    """The real offline mirror (``$NLP_DATA_MIRROR`` or ``../shared/datasets``); skip if absent."""
    path = Path(os.environ.get("NLP_DATA_MIRROR", REPO_ROOT.parent / "shared" / "datasets"))
    if not (path / "translate.csv").is_file():
        pytest.skip(f"offline mirror not found at {path}")
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A temporary sqlite MLflow store, for the stages (``MLFLOW_TRACKING_URI``) and for runs a
    test logs itself (mlflow's global URI, reset afterwards)."""
    import mlflow  # only the tests that use a store pay for the import

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)
