"""Shared fixtures: the repo root, a random generator, the offline mirror, an MLflow store, and
``require`` for checks that may skip on a developer's machine but not in CI."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The environment the session (or xdist worker) started with. Subprocess environments start from
# it, not from os.environ: tests change os.environ while they run (monkeypatch, and
# mlflow.set_tracking_uri / set_registry_uri write MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI and
# the latter is never unset), and a later test's server or stage must not inherit that.
START_ENV = dict(os.environ)


def require(what: str, found: object) -> None:
    """Skip the test unless ``found``; with ``CI=true`` fail instead: in CI a guarantee check
    that cannot run is a failure, not a skip."""
    if found:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{what} (CI=true: this check may not be skipped)", pytrace=False)
    pytest.skip(what)


@functools.cache
def _migrated_store() -> Path:
    """A new sqlite MLflow store with every migration applied, made once per test session."""
    import mlflow

    root = Path(tempfile.mkdtemp(prefix="mlflow-store-"))
    atexit.register(shutil.rmtree, root, True)
    db = root / "mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    client.search_experiments()  # creates the tables and the Default experiment
    return db


def sqlite_store(db: Path) -> str:
    """Make ``db`` a new, empty sqlite MLflow store and return its URI.

    The store is a copy of one migrated once per session (a migration costs seconds), with its
    Default experiment's artifact location moved beside ``db``, where a new store made there
    would have it.
    """
    shutil.copyfile(_migrated_store(), db)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
                    (str(db.parent.resolve() / "mlruns" / "0"),))
    con.close()
    return f"sqlite:///{db}"


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


# Trained once per session, read by tests/stage/test_pyfunc.py, test_predict_sentiment.py and
# tests/e2e/test_serve.py: transformer with custom registered layers (sinusoidal positions, hashed
# bigram buckets), lstm, and a scikit-learn family.
SHARED_FAMILIES = {"transformer": {"position": "sinusoidal", "dropout": 0.1}, "lstm": {},
                   "tfidf_logreg": {}}


@pytest.fixture(scope="session")
def trained_families(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """``SHARED_FAMILIES`` trained by the stage on the synthetic IMDB, each logged to one
    temporary sqlite store (``TrainedFamilies``). Tests read it; the one that registers a
    champion registers it in a copy of the store."""
    import mlflow

    from tests.classifier_fixtures import TrainedFamilies

    result = TrainedFamilies(tmp_path_factory.mktemp("trained"), SHARED_FAMILIES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", result.uri)
        result.train_all()
    mlflow.set_tracking_uri(None)  # train_all set the store as mlflow's global URI
    yield result


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A temporary sqlite MLflow store (``sqlite_store``), for the stages
    (``MLFLOW_TRACKING_URI``) and for runs a test logs itself (mlflow's global URI, reset
    afterwards)."""
    import mlflow  # only the tests that use a store pay for the import

    uri = sqlite_store(tmp_path / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


# `make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadgroup`): each module's
# tests stay on one worker, so that its module-scoped set-ups run once, and so do the modules
# that share a session set-up (named here by its fixture).
SHARED_SETUPS = ("reproduced", "trained_families")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test's ``xdist_group``: its module's path, or the shared set-up its module uses."""
    groups: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        shared = [name for name in SHARED_SETUPS if name in getattr(item, "fixturenames", ())]
        if shared:
            groups[module] = shared[0]
        groups.setdefault(module, module)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid.split("::", 1)[0]]))
