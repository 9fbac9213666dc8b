"""One MLflow run per stage execution: params, DVC tags and inputs, always ended.

A run of a stage killed before it could end its run is marked KILLED by the stage's next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow

from stages.tracking.checks import check_tracking
from stages.tracking.lineage import input_datasets
from stages.tracking.store import experiment_id, redacted, tracking_uri

log = logging.getLogger(__name__)

DVC_EXP_TAGS = {"dvc_exp_name": "DVC_EXP_NAME", "dvc_exp_baseline_rev": "DVC_EXP_BASELINE_REV"}


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
    log.info("MLflow run %s (%s/%s) at %s", run.info.run_id, experiment, run_name, redacted(uri))
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
