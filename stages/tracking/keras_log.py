"""MLflow logging from Keras: per-epoch metrics and the Keras-flavor model."""

from __future__ import annotations

from importlib.metadata import packages_distributions, version
from typing import TYPE_CHECKING, Any

import mlflow

from stages.tracking.store import TrackingError

if TYPE_CHECKING:
    import keras


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
