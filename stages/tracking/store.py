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
from urllib.parse import urlparse, urlsplit, urlunsplit

import mlflow
from filelock import FileLock

from stages.common.constants import EXPERIMENT_DESCRIPTIONS, EXPERIMENT_KIND
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


def redacted(uri: str) -> str:
    """``uri`` with the password of its user info, if any, replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}"))

def uri_scheme(uri: str) -> str:
    # "postgresql+psycopg2://" -> "postgresql"
    return urlparse(uri).scheme.split("+", 1)[0].lower()


def sqlite_path(uri: str) -> Path | None:
    """The db file of a ``sqlite:///`` URI, or None for an in-memory database."""
    path = uri.split("://", 1)[1][1:]
    return None if path in ("", ":memory:") else Path(path)


def store_location(uri: str) -> tuple[Path | None, str | None]:
    """Lock file and artifact root for ``uri`` (None where the server or DB manages them)."""
    scheme = uri_scheme(uri)
    if scheme in HTTP_SCHEMES:
        return None, None
    db = sqlite_path(uri) if scheme == "sqlite" else None
    root = db.resolve().parent if db is not None else tracking_root()
    lock = db.with_name(db.name + ".lock") if db is not None else None
    return lock, (root / "mlartifacts").as_uri()


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold the file lock of the sqlite store ``uri`` (a no-op for servers and other databases).

    Serializes store creation, experiment creation and registry updates between processes.
    """
    lock_path, _ = store_location(uri)
    with FileLock(lock_path, timeout=LOCK_TIMEOUT_S) if lock_path else contextlib.nullcontext():
        yield


def experiment_id(name: str, uri: str) -> str:
    """Get or create experiment ``name`` (under the store lock, with a fixed artifact location)
    as a model-training experiment with its description; an existing experiment gets the ones
    of these tags it lacks (never overwritten: the description is editable in the UI)."""
    _, artifact_root = store_location(uri)
    tags = {"mlflow.experimentKind": EXPERIMENT_KIND}
    if name in EXPERIMENT_DESCRIPTIONS:
        tags["mlflow.note.content"] = EXPERIMENT_DESCRIPTIONS[name]
    with store_lock(uri):
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            for key, value in tags.items():
                if key not in experiment.tags:
                    mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, key, value)
            return experiment.experiment_id
        location = f"{artifact_root}/{name}" if artifact_root else None
        log.info("creating MLflow experiment %r (artifacts: %s)", name, location or "server")
        return mlflow.create_experiment(name, artifact_location=location, tags=tags)
