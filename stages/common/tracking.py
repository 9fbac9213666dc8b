"""MLflow tracking shared by the training stages.

Default store: ``sqlite:///<root>/mlflow.db`` where ``<root>`` is ``$DVC_ROOT`` (DVC sets it to the
original repo, also inside the temporary workspaces of queued ``dvc exp run``) or the repo root;
``MLFLOW_TRACKING_URI`` overrides it. New experiments get a fixed absolute artifact location beside
the sqlite store, so artifacts never land in a workspace DVC deletes. Store and experiment creation
are serialized with a file lock next to the db: two processes migrating a new sqlite store at once
break it for good (alembic ``_alembic_tmp_*`` race).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlsplit, urlunsplit

import mlflow
import requests
import yaml
from filelock import FileLock
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.data.meta_dataset import MetaDataset

from stages.common.constants import EXPERIMENT_DESCRIPTIONS, EXPERIMENT_KIND
from stages.common.errors import StageError
from stages.common.paths import REPO_ROOT

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
HTTP_SCHEMES = ("http", "https")
CHECK_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 120.0
# run tag -> the environment variable ``dvc exp run`` sets for the stage commands
DVC_EXP_TAGS = {"dvc_exp_name": "DVC_EXP_NAME", "dvc_exp_baseline_rev": "DVC_EXP_BASELINE_REV"}


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

    A server must answer, reach its backend store and store a probe artifact; a database must
    take a connection; a local artifact root, a probe file. Messages show no password.

    Raises:
        TrackingError: unsupported scheme, unreachable server or database, wrong credentials,
            unwritable sqlite or artifact location (a full disk included).
    """
    scheme = _scheme(uri)
    if scheme in HTTP_SCHEMES:
        _check_server(uri)
        return
    if scheme not in DB_SCHEMES:
        valid = ", ".join(f"{s}://" for s in (*HTTP_SCHEMES, *DB_SCHEMES))
        raise TrackingError(
            f"MLflow tracking URI {_redacted(uri)!r}: unsupported scheme {scheme!r} "
            f"(use one of: {valid})"
        )
    if scheme == "sqlite":
        _check_sqlite(uri)
    else:
        _check_database(uri)
    _check_artifact_root(uri)


# Written and deleted where artifacts go, before any run starts: a full disk fails there.
PROBE_PREFIX = ".mlflow-write-check-"
PROBE_BYTES = 4096


def _redacted(uri: str) -> str:
    """``uri`` with the password of its user info, if any, replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, host = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}"))


def _first_line(text: str, limit: int = 300) -> str:
    return (text.strip().splitlines() or [""])[0][:limit]


def _check_server(uri: str) -> None:
    url = f"{uri.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=CHECK_TIMEOUT_S)
    except requests.RequestException as exc:
        raise TrackingError(
            f"MLflow tracking server {_redacted(uri)} is unreachable ({type(exc).__name__}); "
            "start it or unset MLFLOW_TRACKING_URI to use the local sqlite store"
        ) from exc
    if response.status_code != 200:
        raise TrackingError(
            f"MLflow tracking server {_redacted(uri)} answered HTTP {response.status_code} "
            f"at {_redacted(url)}"
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
            raise TrackingError(f"MLflow tracking server {_redacted(uri)}: {endpoint}: "
                                f"{_first_line(exc.message)}") from exc

    def error(response: requests.Response) -> str:
        try:
            return f"HTTP {response.status_code}: {_first_line(response.json()['message'])}"
        except (ValueError, KeyError, TypeError):  # not an MLflow error: the server logged it
            return f"HTTP {response.status_code}: {response.reason}; the server's log says why"

    response = call("/api/2.0/mlflow/experiments/search", "GET", params={"max_results": 1})
    if response.status_code != 200:
        raise TrackingError(f"MLflow tracking server {_redacted(uri)} cannot use its backend "
                            f"store ({error(response)})")
    probe = ("/api/2.0/mlflow-artifacts/artifacts/"
             f"{PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}")
    response = call(probe, "PUT", data=bytes(PROBE_BYTES))
    if response.status_code == 503 and "serve-artifacts" in response.text:
        return
    if response.status_code != 200:
        raise TrackingError(f"MLflow tracking server {_redacted(uri)} cannot store artifacts "
                            f"({error(response)})")
    call(probe, "DELETE")


def _check_database(uri: str) -> None:
    """Connect once: a server that is down, wrong credentials, a missing driver or database
    fail here in one line, not after MLflow's retries."""
    import sqlalchemy

    timeout = {} if _scheme(uri) == "mssql" else {"connect_timeout": int(CHECK_TIMEOUT_S)}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=timeout,
                                          poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:  # driver import, URL, connection and login errors alike
        reason = _first_line(str(getattr(exc, "orig", None) or exc))
        raise TrackingError(
            f"MLflow tracking store {_redacted(uri)} is unusable ({type(exc).__name__}: {reason})"
        ) from exc


def _check_artifact_root(uri: str) -> None:
    """Write and delete a probe file in the local artifact root of the store ``uri``."""
    path = Path(urlparse(_store_location(uri)[1]).path)
    try:
        path.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=PROBE_PREFIX) as probe:
            probe.write(bytes(PROBE_BYTES))
            probe.flush()
    except OSError as exc:
        raise TrackingError(f"MLflow artifact store {path} of {_redacted(uri)} is not writable "
                            f"({exc.strerror or exc})") from exc


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
    """Get or create experiment ``name`` (under the store lock, with a fixed artifact location)
    as a model-training experiment with its description; an existing experiment gets the ones
    of these tags it lacks (never overwritten: the description is editable in the UI)."""
    _, artifact_root = _store_location(uri)
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


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys: ``{"a": {"b": 1}} -> {"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphan_runs(exp_id: str, stage: str) -> list[str]:
    """Mark KILLED the RUNNING runs of ``stage`` whose process on this host is gone.

    A SIGKILLed stage cannot end its own run; the next execution of the same stage does.

    Returns:
        The ids of the runs marked KILLED.
    """
    host = socket.gethostname()
    query = (
        f"tags.dvc_stage = '{stage}' and attributes.status = 'RUNNING' and tags.host = '{host}'"
    )
    client = mlflow.MlflowClient()
    reaped = []
    for run in client.search_runs([exp_id], filter_string=query):
        pid = run.data.tags.get("pid", "")
        if pid.isdigit() and not _process_alive(int(pid)):
            client.set_terminated(run.info.run_id, status="KILLED")
            reaped.append(run.info.run_id)
            log.warning("marked MLflow run %s KILLED: process %s is gone", run.info.run_id, pid)
    return reaped


def dvc_tags(stage: str) -> dict[str, str]:
    """``dvc_stage``, plus ``dvc_exp_name``/``dvc_exp_baseline_rev`` under ``dvc exp run``.

    DVC sets ``DVC_EXP_NAME`` and ``DVC_EXP_BASELINE_REV`` for every experiment, in the
    workspace or queued (``dvc/repo/experiments/queue/base.py``); ``dvc repro`` sets neither.
    """
    found = {tag: os.environ.get(env, "") for tag, env in DVC_EXP_TAGS.items()}
    return {"dvc_stage": stage, **{tag: value for tag, value in found.items() if value}}


@contextlib.contextmanager
def tracking_run(
    *,
    experiment: str,
    run_name: str,
    stage: str,
    params: Mapping[str, Any],
    inputs: Sequence[Path],
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run with flattened ``params``, DVC tags and ``inputs``; always end it.

    ``inputs`` (the files or directories the stage reads) are logged as "training" datasets
    named by their repo path, digest their DVC md5 (``input_datasets``).
    An exception inside the block ends the run as FAILED (KILLED for Ctrl-C) and propagates.
    Runs of the same stage left RUNNING by a killed process are marked KILLED first.

    Raises:
        TrackingError: the tracking URI is unusable (checked before the run starts).
    """
    uri = tracking_uri()
    check_tracking(uri)
    datasets = input_datasets(inputs, stage=stage)
    mlflow.set_tracking_uri(uri)
    exp_id = experiment_id(experiment, uri)
    tags = {**dvc_tags(stage), "host": socket.gethostname(), "pid": str(os.getpid())}
    reap_orphan_runs(exp_id, stage)
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags)
    log.info("MLflow run %s (%s/%s) at %s", run.info.run_id, experiment, run_name, uri)
    try:
        mlflow.log_params(flatten(params))
        for dataset in datasets:
            mlflow.log_input(dataset, context="training")
        yield run
    except KeyboardInterrupt:
        mlflow.end_run("KILLED")
        raise
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def epoch_metrics_callback() -> keras.callbacks.Callback:
    """Keras callback logging every epoch's logs (``loss``, ``val_loss``, ...) with step=epoch.

    Bound to the active run (inside ``tracking_run``). Used instead of
    ``mlflow.keras.MlflowCallback``, which also logs un-stepped ``validation_*`` duplicates at
    every evaluation, logs asynchronously and swallows its own exceptions.

    Raises:
        TrackingError: no MLflow run is active (logging would silently start a stray run).
    """
    import keras

    active = mlflow.active_run()
    if active is None:
        raise TrackingError("epoch_metrics_callback() needs an active run (use tracking_run)")
    run_id = active.info.run_id

    def log_epoch(epoch: int, logs: dict[str, Any] | None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        mlflow.log_metrics(metrics, step=epoch, run_id=run_id)

    return keras.callbacks.LambdaCallback(on_epoch_end=log_epoch)


def tensorflow_distribution() -> str:
    """The installed distribution that provides ``tensorflow`` (``tensorflow_cpu`` on Linux
    x86-64, ``tensorflow`` elsewhere)."""
    names = packages_distributions().get("tensorflow", [])
    found = [name for name in names if name.lower().startswith("tensorflow")]
    return found[0] if found else "tensorflow"


def log_keras_model(model: keras.Model, *, name: str = "model") -> None:
    """Log ``model`` in the MLflow Keras flavor with its signature and the installed keras and
    TensorFlow pinned.

    Explicit requirements: MLflow's inference reloads the model in a subprocess (~12 s here).
    TensorFlow is pinned under the distribution that provides it (``tensorflow_cpu`` on Linux
    x86-64, ``tensorflow`` elsewhere). The signature comes from the model's symbolic tensors, so
    variable dimensions (``None``, e.g. sequence lengths) stay variable (-1); inputs are named
    only when there are several (pyfunc then feeds Keras a dict, else an array). No input example:
    MLflow 3.17's Keras flavor writes it before creating the model directory (FileNotFoundError).
    """
    import mlflow.keras
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    requirements = [f"{pkg}=={version(pkg)}" for pkg in ("keras", tensorflow_distribution())]
    named = len(model.inputs) > 1
    inputs = Schema([
        TensorSpec(np.dtype(t.dtype), tuple(-1 if d is None else d for d in t.shape),
                   t.name if named else None)
        for t in model.inputs
    ])
    outputs = Schema([
        TensorSpec(np.dtype(t.dtype), tuple(-1 if d is None else d for d in t.shape))
        for t in model.outputs
    ])
    mlflow.keras.log_model(
        model,
        name=name,
        pip_requirements=requirements,
        signature=ModelSignature(inputs=inputs, outputs=outputs),
    )
