"""The MLflow registered model ``imdb-sentiment`` and its ``champion`` alias.

Each ``train@<family>`` run writes ``models/<family>/mlflow.json`` (``run_id``, ``model_id``,
``model_uri`` of the raw-text pyfunc it logged); the champion is registered from that record, by
id. ``load_champion`` loads the alias as a pyfunc model from any directory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from stages.common.constants import CHAMPION_ALIAS, REGISTERED_MODEL
from stages.common.errors import StageError
from stages.tracking import checks, store

log = logging.getLogger(__name__)

CHAMPION_URI = f"models:/{REGISTERED_MODEL}@{CHAMPION_ALIAS}"
RECORD_FILE = "mlflow.json"
RECORD_KEYS = ("run_id", "model_id", "model_uri")
DESCRIPTION = "IMDB sentiment, raw review text in: the compare stage's champion"


class RegistryError(StageError):
    """A training record is missing or unknown to the store, or there is no champion."""


def read_record(models_dir: Path, family: str) -> dict[str, str]:
    """``models_dir/<family>/mlflow.json``: the run and logged model of the family's training.

    Raises:
        RegistryError: the file is missing (naming the stage that writes it) or lacks a key.
    """
    path = models_dir / family / RECORD_FILE
    if not path.is_file():
        raise RegistryError(f"{path} is missing (run: dvc repro train@{family})")
    record = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in RECORD_KEYS if not isinstance(record, dict) or key not in record]
    if missing:
        raise RegistryError(f"{path}: missing key {missing[0]!r} (rerun: dvc repro "
                            f"-f -s train@{family})")
    return {key: str(record[key]) for key in RECORD_KEYS}


def check_record(client: Any, family: str, record: dict[str, str]) -> None:
    """Check that the store holds the FINISHED run and the model of ``record``.

    Raises:
        RegistryError: they are not in this store (the outputs were restored from DVC's run
            cache or pulled, so the stage never ran against it), naming the command to run.
    """
    from mlflow.exceptions import MlflowException

    stage = f"train@{family}"
    try:
        run = client.get_run(record["run_id"])
        client.get_logged_model(record["model_id"])
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        run = None
    if run is None or run.info.status != "FINISHED":
        raise RegistryError(
            f"the MLflow run {record['run_id']} of {stage} (models/{family}/{RECORD_FILE}) is "
            f"not a FINISHED run with model {record['model_id']} in {store.tracking_uri()} "
            f"(restored from DVC's run cache or pulled?); train it again: dvc repro -f -s {stage}"
        )


def champion_version(client: Any) -> Any | None:
    """The model version the alias ``champion`` points at, or None if there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def register_champion(
    client: Any, family: str, record: dict[str, str], *, tags: dict[str, str] | None = None
) -> Any:
    """Make ``record``'s logged model the ``champion`` version of ``imdb-sentiment``.

    Args:
        client: an ``MlflowClient`` whose tracking and registry URIs are the store.
        family: the champion family (tag ``family``).
        record: its ``mlflow.json`` (``read_record``).
        tags: more version tags (e.g. how the champion was chosen).

    Returns:
        The model version the alias points at (the existing one if it already is this model).

    Raises:
        RegistryError: the record's run or model is not in the store (``check_record``).
    """
    from mlflow.exceptions import MlflowException

    check_record(client, family, record)
    current = champion_version(client)
    if current is not None and current.source == record["model_uri"]:  # model_id: None here
        log.info("%s@%s is already version %s (%s, model %s)", REGISTERED_MODEL, CHAMPION_ALIAS,
                 current.version, family, record["model_id"])
        return current
    try:
        client.create_registered_model(REGISTERED_MODEL, description=DESCRIPTION)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    version = client.create_model_version(
        REGISTERED_MODEL, source=record["model_uri"], run_id=record["run_id"],
        tags={"family": family, "run_id": record["run_id"], **(tags or {})},
        model_id=record["model_id"],
    )
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, version.version)
    log.info("%s version %s (%s, run %s) is now @%s", REGISTERED_MODEL, version.version, family,
             record["run_id"], CHAMPION_ALIAS)
    return version


def load_champion() -> tuple[Any, Any]:
    """The pyfunc model ``imdb-sentiment@champion`` and its model version.

    Raises:
        RegistryError: the tracking URI is unusable, or there is no store, registered model
            or alias (the compare stage makes them); a missing sqlite store is not created.
    """
    import mlflow
    from mlflow import MlflowClient

    uri = store.tracking_uri()
    try:
        checks.check_tracking(uri)
    except store.TrackingError as exc:
        raise RegistryError(str(exc)) from exc
    missing_db = uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()
    version = None if missing_db else champion_version(MlflowClient(uri, uri))
    if version is None:
        raise RegistryError(f"no model {REGISTERED_MODEL}@{CHAMPION_ALIAS} in the MLflow store "
                            f"{uri} (run: dvc repro compare)")
    log.info("%s@%s is version %s: %s (run %s)", REGISTERED_MODEL, CHAMPION_ALIAS,
             version.version, version.tags.get("family"), version.run_id)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL}/{version.version}"), version
