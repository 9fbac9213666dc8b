"""Checks that runs can be logged to a tracking URI, run before any training: a server that
answers and reaches its stores, a database that takes a connection, a writable artifact root.
Messages name the URI without its password."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from stages.tracking.store import (
    CHECK_TIMEOUT_S,
    DB_SCHEMES,
    HTTP_SCHEMES,
    TrackingError,
    redacted,
    sqlite_path,
    store_location,
    uri_scheme,
)

log = logging.getLogger(__name__)

# Written and deleted where artifacts go, before any run starts: a full disk fails there.
PROBE_PREFIX = ".mlflow-write-check-"
PROBE_BYTES = 4096


def check_tracking(uri: str) -> None:
    """Fail fast, before any training, if runs could not be logged to ``uri``.

    A server must answer, reach its backend store and store a probe artifact; a database must
    take a connection; a local artifact root, a probe file. Messages show no password.

    Raises:
        TrackingError: unsupported scheme, unreachable server or database, wrong credentials,
            unwritable sqlite or artifact location (a full disk included).
    """
    scheme = uri_scheme(uri)
    if scheme in HTTP_SCHEMES:
        _check_server(uri)
        return
    if scheme not in DB_SCHEMES:
        valid = ", ".join(f"{s}://" for s in (*HTTP_SCHEMES, *DB_SCHEMES))
        raise TrackingError(
            f"MLflow tracking URI {redacted(uri)!r}: unsupported scheme {scheme!r} "
            f"(use one of: {valid})"
        )
    if scheme == "sqlite":
        _check_sqlite(uri)
    else:
        _check_database(uri)
    _check_artifact_root(uri)

def _first_line(text: str, limit: int = 300) -> str:
    return (text.strip().splitlines() or [""])[0][:limit]

def _check_server(uri: str) -> None:
    url = f"{uri.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=CHECK_TIMEOUT_S)
    except requests.RequestException as exc:
        raise TrackingError(
            f"MLflow tracking server {redacted(uri)} is unreachable ({type(exc).__name__}); "
            "start it or unset MLFLOW_TRACKING_URI to use the local sqlite store"
        ) from exc
    if response.status_code != 200:
        raise TrackingError(
            f"MLflow tracking server {redacted(uri)} answered HTTP {response.status_code} "
            f"at {redacted(url)}"
        )
    _check_server_stores(uri)

def _check_server_stores(uri: str) -> None:
    """``/health`` answers without the stores: list one experiment (the database), then upload
    and delete a probe file (proxied artifacts). A server without ``--serve-artifacts`` answers
    the upload 503, its clients write their artifacts themselves."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    def call(endpoint: str, method: str, **kwargs: Any) -> requests.Response:
        try:  # MLflow's client: its credentials and TLS settings; no retries, one timeout
            return http_request(get_default_host_creds(uri), endpoint, method, max_retries=0,
                                timeout=CHECK_TIMEOUT_S, raise_on_status=False, **kwargs)
        except MlflowException as exc:
            raise TrackingError(f"MLflow tracking server {redacted(uri)}: {endpoint}: "
                                f"{_first_line(exc.message)}") from exc

    def error(response: requests.Response) -> str:
        try:
            return f"HTTP {response.status_code}: {_first_line(response.json()['message'])}"
        except (ValueError, KeyError, TypeError):  # not an MLflow error: the server logged it
            return f"HTTP {response.status_code}: {response.reason}; the server's log says why"

    response = call("/api/2.0/mlflow/experiments/search", "GET", params={"max_results": 1})
    if response.status_code != 200:
        raise TrackingError(f"MLflow tracking server {redacted(uri)} cannot use its backend "
                            f"store ({error(response)})")
    probe = ("/api/2.0/mlflow-artifacts/artifacts/"
             f"{PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}")
    response = call(probe, "PUT", data=bytes(PROBE_BYTES))
    if response.status_code == 503 and "serve-artifacts" in response.text:
        return
    if response.status_code != 200:
        raise TrackingError(f"MLflow tracking server {redacted(uri)} cannot store artifacts "
                            f"({error(response)})")
    call(probe, "DELETE")

def _check_database(uri: str) -> None:
    """Connect once: a server that is down, wrong credentials, a missing driver or database
    fail here in one line, not after MLflow's retries."""
    import sqlalchemy

    timeout = {} if uri_scheme(uri) == "mssql" else {"connect_timeout": int(CHECK_TIMEOUT_S)}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=timeout,
                                          poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # driver import, URL, connection and login errors alike
        reason = _first_line(str(getattr(exc, "orig", None) or exc))
        raise TrackingError(
            f"MLflow tracking store {redacted(uri)} is unusable ({type(exc).__name__}: {reason})"
        ) from exc

def _check_artifact_root(uri: str) -> None:
    """Write and delete a probe file in the local artifact root of the store ``uri``."""
    path = Path(urlparse(store_location(uri)[1]).path)
    try:
        path.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=PROBE_PREFIX) as probe:
            probe.write(bytes(PROBE_BYTES))
            probe.flush()
    except OSError as exc:
        raise TrackingError(f"MLflow artifact store {path} of {redacted(uri)} is not writable "
                            f"({exc.strerror or exc})") from exc

def _check_sqlite(uri: str) -> None:
    if not uri.startswith("sqlite:///"):
        raise TrackingError(f"MLflow tracking URI {uri!r}: sqlite URIs start with 'sqlite:///'")
    path = sqlite_path(uri)
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
