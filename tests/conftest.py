"""Shared fixtures: the repo root, the offline mirror, and an autouse Keras-free seed."""

from __future__ import annotations

import os
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
