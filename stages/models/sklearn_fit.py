"""The scikit-learn fit loop of the sentiment families (kind ``sklearn_sentiment``).

The family's builder returns an unfitted ``Pipeline`` (features, then a classifier with
``predict_proba``); it is fitted on the train split, scored on train and val (one "epoch" of
history, logged to the active MLflow run), and the test split is scored once; val and test by
the model as saved: the family's ``export`` of the pipeline if it has one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
import pandas as pd

from stages.evaluation.metrics import compute_metrics
from stages.models.features import Features, Trained

log = logging.getLogger(__name__)


def train(spec: Any, cfg: Any, features: Features) -> Trained:
    """Fit the family's pipeline on the train split; val for the selection score, test once."""
    (x, y), (x_val, y_val) = features.data["train"], features.data["val"]
    model = spec.builder(cfg)
    features_step, estimator = model[:-1], model[-1]
    log.info("fitting %s on %d reviews", " + ".join(model.named_steps), len(y))
    start = time.perf_counter()
    # What Pipeline.fit does, keeping the train features to score them without re-vectorizing.
    x_features = features_step.fit_transform(x, y)
    estimator.fit(x_features, y)
    seconds = time.perf_counter() - start
    log.info("fitted in %.1f s; scoring train and val", seconds)
    # Val and test are scored by the model as saved (the family's export, if any).
    saved = spec.export(model) if spec.export else model
    row: dict[str, float] = {"epoch": 0}
    train_p, val_p = estimator.predict_proba(x_features), saved.predict_proba(x_val)
    for (ys, p), prefix in (((y, train_p), ""), ((y_val, val_p), "val_")):
        scores = compute_metrics(ys, p[:, 1])
        row |= {f"{prefix}accuracy": scores["accuracy"], f"{prefix}loss": scores["loss"]}
    mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=0)
    x_test, y_test = features.data["test"]
    p_test = saved.predict_proba(x_test)[:, 1]
    facts = {
        "param_count": float(estimator.coef_.size + estimator.intercept_.size),
        "best_val_accuracy": row["val_accuracy"],
    }
    return Trained(saved, y_test, p_test, pd.DataFrame([row]), seconds, facts)
