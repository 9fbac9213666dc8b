"""compute_metrics against counts and rates worked out by hand on eight reviews."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from stages.evaluation.metrics import compute_metrics

# Eight reviews, four per class; threshold 0.5, and p == 0.5 counts as positive.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
PROBS = [0.1, 0.4, 0.5, 0.8, 0.3, 0.5, 0.7, 0.9]
#  predicted:  0    0    1    1    0    1    1    1
# tn = 2 (0.1, 0.4), fp = 2 (0.5, 0.8), fn = 1 (0.3), tp = 3 (0.5, 0.7, 0.9)
#
# ROC AUC: the share of the 4 x 4 (positive, negative) pairs the positive wins, a tie half:
#   0.3 beats 0.1                      -> 1
#   0.5 beats 0.1, 0.4, ties 0.5       -> 2.5
#   0.7 beats 0.1, 0.4, 0.5            -> 3
#   0.9 beats all four                 -> 4
#   (1 + 2.5 + 3 + 4) / 16 = 21/32
# Log loss: -(1/8) * log of the product of the probabilities given to the true classes,
#   negatives 0.9 * 0.6 * 0.5 * 0.2, positives 0.3 * 0.5 * 0.7 * 0.9: 510300 / 10**8.
HAND = {
    "tn": 2, "fp": 2, "fn": 1, "tp": 3,
    "accuracy": Fraction(5, 8),
    "precision": Fraction(3, 5),
    "recall": Fraction(3, 4),
    "f1": Fraction(2, 3),  # 2 tp / (2 tp + fp + fn) = 6/9
    "roc_auc": Fraction(21, 32),
    "loss": math.log(10**8 / 510300) / 8,
}
COUNTS = ("tn", "fp", "fn", "tp")


def check(metrics: dict, expected: dict) -> None:
    """Counts are exact builtin ints; rates builtin floats equal to the hand values."""
    assert set(metrics) == set(expected)
    for key, value in expected.items():
        if key in COUNTS:
            assert type(metrics[key]) is int and metrics[key] == value, key
        else:
            assert type(metrics[key]) is float, key
            assert metrics[key] == pytest.approx(float(value), rel=1e-12, abs=0), key


def test_compute_metrics_matches_hand_counts() -> None:
    check(compute_metrics(np.array(LABELS), np.array(PROBS)), HAND)


def test_compute_metrics_takes_lists_and_column_vectors_alike() -> None:
    """Labels as floats and a [n, 1] probability column, as a sigmoid head returns them."""
    labels = np.array(LABELS, dtype=np.float32)
    check(compute_metrics(labels, np.array(PROBS).reshape(-1, 1)), HAND)
    check(compute_metrics(LABELS, PROBS), HAND)


def test_probability_equal_to_threshold_predicts_positive() -> None:
    # threshold 0.7: 0.7 (a positive) and 0.8 (a negative) are on or above it.
    edge = {**HAND, "tn": 3, "fp": 1, "fn": 2, "tp": 2,
            "accuracy": Fraction(5, 8), "precision": Fraction(2, 3), "recall": Fraction(2, 4),
            "f1": Fraction(4, 7)}  # 2 * 2 / (2 * 2 + 1 + 2)
    check(compute_metrics(LABELS, PROBS, threshold=0.7), edge)
    # Just above 0.7, the positive at 0.7 becomes a false negative; AUC and loss do not move.
    above = {**edge, "fn": 3, "tp": 1, "accuracy": Fraction(4, 8), "precision": Fraction(1, 2),
             "recall": Fraction(1, 4), "f1": Fraction(1, 3)}  # 2 / (2 + 1 + 3)
    check(compute_metrics(LABELS, PROBS, threshold=float(np.nextafter(0.7, 1.0))), above)


def test_no_positive_prediction_gives_zero_precision_and_f1() -> None:
    # Every probability below 0.5: tn 2, fn 2, no positive predicted (precision 0/0 -> 0).
    # AUC: 0.2 beats 0.1 (1), 0.4 beats both (2): 3/4. Loss: -(1/4) log(0.9 * 0.2 * 0.7 * 0.4).
    metrics = compute_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    check(metrics, {"tn": 2, "fp": 0, "fn": 2, "tp": 0, "accuracy": Fraction(1, 2),
                    "precision": 0, "recall": 0, "f1": 0, "roc_auc": Fraction(3, 4),
                    "loss": math.log(10**4 / 504) / 4})


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        ([0, 1, 1], [0.2, 0.8], "metrics: 3 labels but 2 predictions"),
        ([0, 1], [0.2, 0.8, 0.5], "metrics: 2 labels but 3 predictions"),
        ([0, 1], [0.2, 1.01], "metrics: predicted probabilities must lie in [0, 1]"),
        ([0, 1], [-0.01, 0.8], "metrics: predicted probabilities must lie in [0, 1]"),
        ([0, 1], [0.2, float("nan")], "metrics: predicted probabilities must lie in [0, 1]"),
    ],
)
def test_compute_metrics_rejects_bad_predictions(labels, probs, message) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        compute_metrics(labels, probs)


def test_probabilities_0_and_1_are_accepted() -> None:
    # The bounds themselves are valid: all four reviews right, AUC 1; the loss stays finite
    # (log loss clips 0 and 1 away from the bounds).
    metrics = compute_metrics([0, 0, 1, 1], [0.0, 0.25, 0.75, 1.0])
    assert (metrics["tn"], metrics["fp"], metrics["fn"], metrics["tp"]) == (2, 0, 0, 2)
    assert metrics["accuracy"] == metrics["roc_auc"] == 1.0
    assert metrics["loss"] == pytest.approx(math.log(4 / 3) / 2, rel=1e-9)
