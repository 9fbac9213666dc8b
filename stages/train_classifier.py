"""Train one sentiment family and measure it on the 25,000 IMDB test reviews.

Run as ``python -m stages.train_classifier --family lstm`` (DVC: ``train@<family>``).
Inputs: the prepared data the family's module names (``INPUTS``, ``stages/families/``):
``data/prepared/vectorized/`` (token ids, vocabulary), ``data/prepared/embeddings.npy`` (GloVe)
or ``data/prepared/imdb/`` (review texts).
Outputs: ``models/<family>/`` (the model, ``preprocess.json`` and ``run.json``: training time,
parameter count, epochs and the MLflow run id: facts of this execution, not metrics),
``metrics/<family>.json`` (test metrics and the validation accuracy of the kept weights: equal
for equal code, data and params), ``metrics/predictions/<family>.npz`` (label and P(positive)
of every test review, for confidence intervals and paired tests), ``metrics/history/
<family>.csv`` (per epoch) and ``metrics/plots/<family>_confusion.png``.
Each execution is one MLflow run "<family>" in the experiment "sentiment".
Params: ``train.<family>``.

The family's fit loop (``stages/models/keras/fit.py``, ``stages/models/sklearn_fit.py``, named
by its kind in the registry) trains it and scores the test split once, after training.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow

from stages.common.cli import family_argument, stage_main
from stages.common.constants import SENTIMENT_EXPERIMENT
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params
from stages.common.paths import (
    HISTORY_DIR,
    METRICS_DIR,
    MODELS_DIR,
    PLOTS_DIR,
    PREDICTIONS_DIR,
    PREPARED_DIR,
)
from stages.evaluation.metrics import compute_metrics
from stages.evaluation.plots import plot_confusion
from stages.evaluation.predictions import save_predictions
from stages.families import registry
from stages.families.registry import FamilySpec
from stages.models.features import Features, Trained
from stages.models.pyfunc import log_sentiment_model
from stages.models.textmodel import save_text_model
from stages.tracking import runs
from stages.tracking.model_registry import RECORD_FILE

log = logging.getLogger(__name__)

# Every history file has these columns (a family that validates on nothing leaves the val ones
# empty), so one plot definition fits each file of metrics/history/.
HISTORY_COLUMNS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss")


@dataclass
class Inputs:
    """Where a run reads its data (defaults: the DVC outputs of the data stages)."""

    vectorized: Path = PREPARED_DIR / "vectorized"
    embeddings: Path = PREPARED_DIR / "embeddings.npy"
    imdb: Path = PREPARED_DIR / "imdb"

    def of(self, spec: FamilySpec) -> dict[str, Path]:
        """The paths of the inputs ``spec`` reads."""
        return {name: getattr(self, name) for name in spec.inputs}


@dataclass
class Outputs:
    """Where a run writes (defaults: the DVC outputs of ``train@<family>``)."""

    models_dir: Path = MODELS_DIR
    metrics_dir: Path = METRICS_DIR
    plots_dir: Path = PLOTS_DIR

    @property
    def predictions_dir(self) -> Path:
        return self.metrics_dir / PREDICTIONS_DIR.relative_to(METRICS_DIR)

    @property
    def history_dir(self) -> Path:
        return self.metrics_dir / HISTORY_DIR.relative_to(METRICS_DIR)


def save_model(family: str, model: Any, encoder: Any, facts: dict, models_dir: Path) -> None:
    """``models/<family>/``: a raw-text model (``encoder.joblib`` + ``model.keras`` or
    ``model.joblib``, see ``stages.models.textmodel``), ``preprocess.json`` for a token-id
    family, and ``run.json``, the facts of this execution."""
    with atomic_path(models_dir / family) as tmp:
        tmp.mkdir()
        save_text_model(tmp, encoder, model)
        preprocess = getattr(encoder, "preprocess", None)
        if preprocess is not None:
            atomic_write_json(tmp / "preprocess.json", preprocess)
        atomic_write_json(tmp / "run.json", facts)


def save_outputs(
    family: str, result: Trained, features: Features, metrics: dict, outputs: Outputs
) -> Path:
    """Write the model, metrics JSON, predictions, history CSV and confusion PNG; return the
    PNG path."""
    facts = {"training_seconds": result.seconds, **result.facts,
             "mlflow_run_id": mlflow.active_run().info.run_id}
    save_model(family, result.model, features.encoder, facts, outputs.models_dir)
    atomic_write_json(outputs.metrics_dir / f"{family}.json", metrics)
    save_predictions(outputs.predictions_dir / f"{family}.npz", result.y_test, result.p_test)
    history = result.history
    columns = [*HISTORY_COLUMNS, *(c for c in history.columns if c not in HISTORY_COLUMNS)]
    with atomic_path(outputs.history_dir / f"{family}.csv") as tmp:
        history.reindex(columns=columns).to_csv(tmp, index=False)
    png = outputs.plots_dir / f"{family}_confusion.png"
    plot_confusion(metrics, png, title=f"{family}: test accuracy {metrics['accuracy']:.4f}")
    return png


def log_run(result: Trained, family_dir: Path, metrics: dict, png: Path) -> None:
    """Final test metrics (``test_`` prefix), run facts, confusion figure and raw-text pyfunc
    model of the active run; then ``<family_dir>/mlflow.json`` records the run and model ids
    (compare registers that model)."""
    mlflow.log_metrics({f"test_{k}": float(v) for k, v in metrics.items()})
    mlflow.log_metrics({"training_seconds": result.seconds, **result.facts})
    mlflow.log_artifact(str(png), artifact_path="plots")
    info = log_sentiment_model(family_dir)
    atomic_write_json(family_dir / RECORD_FILE, {"run_id": mlflow.active_run().info.run_id,
                                                 "model_id": info.model_id,
                                                 "model_uri": info.model_uri})


def run(
    params: Params,
    family: str,
    *,
    inputs: Inputs | None = None,
    outputs: Outputs | None = None,
) -> dict[str, float]:
    """Train ``family``, test it once, write its outputs and log one MLflow run."""
    inputs, outputs = inputs or Inputs(), outputs or Outputs()
    spec = registry.spec(family)
    cfg = registry.family_params(params, family)
    trainer = spec.trainer()
    paths = inputs.of(spec)
    with runs.tracking_run(
        experiment=SENTIMENT_EXPERIMENT,
        run_name=family,
        stage=f"train@{family}",
        params=asdict(cfg),
        inputs=list(paths.values()),
    ):
        features = spec.features(cfg, paths)
        log.info("%s: %s", family, {s: len(y) for s, (_, y) in features.data.items()})
        result = trainer.train(spec, cfg, features)
        metrics = compute_metrics(result.y_test, result.p_test)
        if "best_val_accuracy" in result.facts:
            metrics["best_val_accuracy"] = result.facts.pop("best_val_accuracy")
        png = save_outputs(family, result, features, metrics, outputs)
        log_run(result, outputs.models_dir / family, metrics, png)
    log.info("%s: test accuracy %.4f, trained in %.1f s", family, metrics["accuracy"],
             result.seconds)
    return metrics


def _run(args: argparse.Namespace) -> None:
    run(registry.load_params(families=[args.family]), args.family)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.train_classifier --family <family>``."""
    return stage_main("train@{family}", _run, argv, doc=__doc__,
                      arguments=family_argument(registry.sentiment_families()))


if __name__ == "__main__":
    raise SystemExit(main())
