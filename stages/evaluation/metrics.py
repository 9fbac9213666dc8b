"""Binary-classification metrics of the test set (sklearn)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def compute_metrics(y_true: np.ndarray, y_prob: np.ndarray, *, threshold: float = 0.5) -> dict:
    """Test-set metrics of the metrics contract, as builtin numbers.

    Args:
        y_true: Labels 0/1, shape ``[n]``.
        y_prob: Predicted probability of the positive class, shape ``[n]``.
        threshold: ``y_prob >= threshold`` predicts positive.

    Returns:
        ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``, ``loss`` (log loss) and the
        confusion counts ``tn``, ``fp``, ``fn``, ``tp``.

    Raises:
        ValueError: If the shapes differ or a probability lies outside [0, 1].
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_prob = np.asarray(y_prob, dtype=np.float64).ravel()
    if y_true.shape != y_prob.shape:
        raise ValueError(f"metrics: {y_true.shape[0]} labels but {y_prob.shape[0]} predictions")
    if y_prob.size and (y_prob.min() < 0.0 or y_prob.max() > 1.0 or np.isnan(y_prob).any()):
        raise ValueError("metrics: predicted probabilities must lie in [0, 1]")
    y_pred = (y_prob >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, y_prob)),
        "loss": float(skm.log_loss(y_true, y_prob, labels=[0, 1])),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }
