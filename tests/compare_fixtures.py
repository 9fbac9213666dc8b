"""Predictions, histories, run facts, metrics files, MLflow runs and references of a fixed set
of families, as the training stages write them: the configured families may change, these do
not."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier

from stages.evaluation.predictions import save_predictions
from stages.families.registry import Reference
from stages.tracking import store

SEED_CONFUSION = {"tn": 10780, "fp": 1720, "fn": 4456, "tp": 8044}
# (tn, fp, fn, tp, best_val_accuracy, training_seconds, param_count) on 25,000 reviews, scored
# with P(positive) 0.1 or 0.9, so that ROC AUC is (TPR + TNR) / 2.
# The champion (best validation accuracy) is lstm, the best test accuracy tfidf_logreg's.
SENTIMENT = {
    "transformer_seed": (*SEED_CONFUSION.values(), 0.7801, 98.76, 344_418),
    "lstm": (11_000, 1_500, 1_500, 11_000, 0.9200, 140.25, 1_293_345),
    "glove_bilstm": (10_500, 2_000, 1_750, 10_750, 0.8600, 1_234.5, 34_113),
    "transformer": (10_900, 1_600, 1_650, 10_850, 0.8900, 630.0, 1_360_001),
    "tfidf_logreg": (11_300, 1_200, 1_270, 11_230, 0.9100, 33.1, 1_613_432),
}
TRANSLATION = {
    "seq2seq": {"exact_match": 1.0, "char_accuracy": 1.0, "loss": 0.00257},
    "seq2seq_attention": {"exact_match": 0.990909, "char_accuracy": 0.99686, "loss": 0.0123},
}
# The references of exactly these families: (source, anchor, accuracy).
REFERENCES = {
    "sentiment": {
        "transformer_seed": ("seed transformer classifier (num_words 10000, maxlen 80, 10 epochs)",
                             "0.75296", 0.75296),
        "lstm": ("course slides, LSTM on IMDB (beat the seed)", ">= 0.87", 0.87),
        "glove_bilstm": ("DLwP ch. 11, frozen GloVe 100d + BiLSTM(32), seq 600", "~ 0.87", 0.87),
        "transformer": ("DLwP ch. 11, transformer encoder (embed 256), seq 600",
                        "0.875 (no positions) / 0.883 (positions)", 0.883),
        "tfidf_logreg": ("scikit-learn TF-IDF uni+bigrams + LogisticRegression (the bar for "
                         "neural families)", "0.89-0.90", 0.89),
    },
    "translation": {
        "seq2seq": ("course slides, char seq2seq LSTM 128", "110/110 exact", 1.0),
        "seq2seq_attention": ("course slides, + dot attention", "110/110 exact", 1.0),
    },
}


def references() -> dict[str, dict[str, Reference]]:
    """``REFERENCES`` as compare reads them; ``transformer_seed`` with the seed's confusion."""
    refs = {task: {family: Reference(*entry) for family, entry in task_refs.items()}
            for task, task_refs in REFERENCES.items()}
    seed = REFERENCES["sentiment"]["transformer_seed"]
    refs["sentiment"]["transformer_seed"] = Reference(*seed, confusion=SEED_CONFUSION)
    return refs


def sentiment_metrics(family: str) -> dict[str, Any]:
    """The ``metrics/<family>.json`` content of a sentiment family of ``SENTIMENT``."""
    tn, fp, fn, tp, val, seconds, params = SENTIMENT[family]
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    n, wrong = tn + fp + fn + tp, fp + fn
    return {
        "accuracy": (tn + tp) / n,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall),
        "roc_auc": (recall + tn / (tn + fp)) / 2,
        "loss": -((n - wrong) * math.log(0.9) + wrong * math.log(0.1)) / n,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "best_val_accuracy": val,
    }


def run_facts(family: str) -> dict[str, float]:
    """The facts of ``models/<family>/run.json`` of a sentiment family of ``SENTIMENT``."""
    *_, seconds, params = SENTIMENT[family]
    return {"training_seconds": seconds, "param_count": float(params)}


def write_predictions(target: Path, metrics: dict[str, Any]) -> None:
    """Test predictions with exactly the confusion counts of ``metrics``."""
    counts = [(0, 0.1, "tn"), (0, 0.9, "fp"), (1, 0.1, "fn"), (1, 0.9, "tp")]
    label = np.concatenate([np.full(int(metrics[key]), y) for y, _, key in counts])
    probability = np.concatenate([np.full(int(metrics[key]), p) for _, p, key in counts])
    target.parent.mkdir(parents=True, exist_ok=True)
    save_predictions(target, label, probability)


def write_history(target: Path, best_val_accuracy: float, epochs: int) -> None:
    """A history CSV whose best validation accuracy is ``best_val_accuracy``, at the end."""
    pd.DataFrame({
        "epoch": range(epochs),
        "accuracy": [0.7 + 0.1 * e for e in range(epochs)],
        "loss": [0.6 - 0.1 * e for e in range(epochs)],
        "val_accuracy": [best_val_accuracy - 0.01 * (epochs - 1 - e) for e in range(epochs)],
        "val_loss": [0.5] * epochs,
    }).to_csv(target, index=False)


def write_results(metrics_dir: Path, models_dir: Path) -> dict[str, dict[str, Any]]:
    """Write each fixture family's metrics file, and each sentiment family's history CSV
    (``metrics_dir/history``), predictions (``metrics_dir/predictions``) and run facts."""
    (metrics_dir / "history").mkdir(parents=True, exist_ok=True)
    written = {}
    for family in SENTIMENT:
        metrics = sentiment_metrics(family)
        write_history(metrics_dir / "history" / f"{family}.csv", metrics["best_val_accuracy"],
                      epochs=1 if family == "tfidf_logreg" else 3)
        write_predictions(metrics_dir / "predictions" / f"{family}.npz", metrics)
        (models_dir / family).mkdir(parents=True)
        (models_dir / family / "run.json").write_text(json.dumps(run_facts(family)))
        written[family] = metrics | run_facts(family)
    written.update(TRANSLATION)
    for family, metrics in written.items():
        (metrics_dir / f"{family}.json").write_text(json.dumps(metrics, indent=2))
    return written


def log_training_run(
    family: str,
    metrics: dict[str, Any],
    *,
    with_model: bool = True,
    status: str = "FINISHED",
    models_dir: Path | None = None,
) -> str:
    """Log a run like ``train@<family>`` (tags, ``test_*`` metrics, a tiny sklearn model) to the
    current (sqlite) tracking URI, and write its ``models_dir/<family>/mlflow.json`` if given;
    returns the run id."""
    # Artifacts beside the sqlite store, as the training stages place them.
    exp_id = store.experiment_id("sentiment", mlflow.get_tracking_uri())
    with mlflow.start_run(experiment_id=exp_id, run_name=family,
                          tags={"dvc_stage": f"train@{family}", "git_commit": "abc123"}) as run:
        mlflow.log_metrics({f"test_{key}": float(value) for key, value in metrics.items()})
        if with_model:
            model = DummyClassifier(strategy="prior").fit([[0], [1]], [0, 1])
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    if with_model and models_dir is not None:
        record = {"run_id": run.info.run_id, "model_id": info.model_id,
                  "model_uri": info.model_uri}
        (models_dir / family).mkdir(parents=True, exist_ok=True)
        (models_dir / family / "mlflow.json").write_text(json.dumps(record))
    if status != "FINISHED":
        mlflow.MlflowClient().set_terminated(run.info.run_id, status=status)
    return run.info.run_id
