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


# `make test` runs the suite on one pytest-xdist worker per core (`-n auto --dist loadgroup`).
# Each module runs on one worker, so that its module-scoped set-ups run once, and so do the
# modules that share a session set-up (named here by its fixture): a scheduler of work units
# (``pytest_xdist_make_scheduler``). xdist's own loadgroup reads ``xdist_group`` marks into the
# node ids through ``item._nodeid``, which pytest 9 no longer reads: every test would be
# scheduled alone and each worker would build the session set-ups again.
SHARED_SETUPS = {
    "reproduced": ("tests/e2e/test_compare_pipeline.py", "tests/e2e/test_data_pipeline.py",
                   "tests/e2e/test_faults.py"),
    "trained_families": ("tests/e2e/test_serve.py", "tests/stage/test_predict_sentiment.py",
                         "tests/stage/test_pyfunc.py"),
}
WORK_UNIT = {module: name for name, modules in SHARED_SETUPS.items() for module in modules}


def work_unit(nodeid: str) -> str:
    """The work unit of a test: the shared set-up its module uses, else its module."""
    module = nodeid.split("::", 1)[0]
    return WORK_UNIT.get(module, module)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``SHARED_SETUPS`` names every module that uses a shared set-up (else it would be built on
    two workers): checked on the collected tests."""
    missing = sorted({f"{item.nodeid.split('::', 1)[0]} uses {name}" for item in items
                      for name in SHARED_SETUPS if name in getattr(item, "fixturenames", ())
                      and work_unit(item.nodeid) != name})
    if missing:
        raise pytest.UsageError(f"add to SHARED_SETUPS in tests/conftest.py: {missing}")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadgroup``: work units of ``work_unit``, handed out in collection order
    (the long e2e modules first)."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # not by test count: the e2e units are the longest
    return SharedSetupScheduling(config, log)
