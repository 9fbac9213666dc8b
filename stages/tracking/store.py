"""Where MLflow runs are stored: the tracking URI, its checks, the store lock, experiments.

Default store: ``sqlite:///<root>/mlflow.db`` where ``<root>`` is ``$DVC_ROOT`` (DVC sets it to the
original repo, also inside the temporary workspaces of queued ``dvc exp run``) or the repo root;
``MLFLOW_TRACKING_URI`` overrides it. New experiments get a fixed absolute artifact location beside
the sqlite store, so artifacts never land in a workspace DVC deletes. Store and experiment creation
are serialized with a file lock next to the db: two processes migrating a new sqlite store at once
break it for good (alembic ``_alembic_tmp_*`` race).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import requests
from filelock import FileLock

from stages.common.errors import StageError
from stages.common.paths import REPO_ROOT

log = logging.getLogger(__name__)

DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
HTTP_SCHEMES = ("http", "https")
CHECK_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 120.0


class TrackingError(StageError):
    """The MLflow tracking URI is invalid, unreachable or unwritable."""


def tracking_root() -> Path:
    """Directory of the default store: ``$DVC_ROOT`` if set, else the repo root."""
    return Path(os.environ.get("DVC_ROOT") or REPO_ROOT).resolve()


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the absolute sqlite store in ``tracking_root()``."""
    default = f"sqlite:///{tracking_root() / 'mlflow.db'}"
    return os.environ.get("MLFLOW_TRACKING_URI") or default


def _scheme(uri: str) -> str:
    # "postgresql+psycopg2://" -> "postgresql"
    return urlparse(uri).scheme.split("+", 1)[0].lower()


def _sqlite_path(uri: str) -> Path | None:
    """The db file of a ``sqlite:///`` URI, or None for an in-memory database."""
    path = uri.split("://", 1)[1][1:]
    return None if path in ("", ":memory:") else Path(path)


def check_tracking(uri: str) -> None:
    """Fail fast, before any training, if runs could not be logged to ``uri``.

    Raises:
        TrackingError: unsupported scheme, unreachable server, or unwritable sqlite location.
    """
    scheme = _scheme(uri)
    if scheme in HTTP_SCHEMES:
        _check_server(uri)
    elif scheme == "sqlite":
        _check_sqlite(uri)
    elif scheme not in DB_SCHEMES:
        valid = ", ".join(f"{s}://" for s in (*HTTP_SCHEMES, *DB_SCHEMES))
        raise TrackingError(
            f"MLflow tracking URI {uri!r}: unsupported scheme {scheme!r} (use one of: {valid})"
        )


def _check_server(uri: str) -> None:
    url = f"{uri.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=CHECK_TIMEOUT_S)
    except requests.RequestException as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({type(exc).__name__}); "
            "start it or unset MLFLOW_TRACKING_URI to use the local sqlite store"
        ) from exc
    if response.status_code != 200:
        raise TrackingError(
            f"MLflow tracking server {uri} answered HTTP {response.status_code} at {url}"
        )


def _check_sqlite(uri: str) -> None:
    if not uri.startswith("sqlite:///"):
        raise TrackingError(f"MLflow tracking URI {uri!r}: sqlite URIs start with 'sqlite:///'")
    path = _sqlite_path(uri)
    if path is None:
        return
    if not path.is_absolute():
        log.warning(
            "MLflow sqlite store %s is relative to %s: runs of queued `dvc exp run` land in "
            "temporary workspaces that DVC deletes; use an absolute path",
            path,
            Path.cwd(),
        )
    if not path.parent.is_dir():
        raise TrackingError(f"MLflow sqlite store {path}: directory {path.parent} does not exist")
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise TrackingError(f"MLflow sqlite store {path}: {target} is not writable")


def _store_location(uri: str) -> tuple[Path | None, str | None]:
    """Lock file and artifact root for ``uri`` (None where the server or DB manages them)."""
    scheme = _scheme(uri)
    if scheme in HTTP_SCHEMES:
        return None, None
    db = _sqlite_path(uri) if scheme == "sqlite" else None
    root = db.resolve().parent if db is not None else tracking_root()
    lock = db.with_name(db.name + ".lock") if db is not None else None
    return lock, (root / "mlartifacts").as_uri()


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the file lock of the sqlite store ``uri`` (a no-op for servers and other databases).

    Serializes store creation, experiment creation and registry updates between processes.
    """
    lock_path, _ = _store_location(uri)
    with FileLock(lock_path, timeout=LOCK_TIMEOUT_S) if lock_path else contextlib.nullcontext():
        yield


def experiment_id(name: str, uri: str) -> str:
    """Get or create experiment ``name`` (under the store lock, with a fixed artifact location)."""
    _, artifact_root = _store_location(uri)
    with store_lock(uri):
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = f"{artifact_root}/{name}" if artifact_root else None
        log.info("creating MLflow experiment %r (artifacts: %s)", name, location or "server")
        return mlflow.create_experiment(name, artifact_location=location)
