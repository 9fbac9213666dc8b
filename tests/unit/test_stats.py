"""Bootstrap intervals, McNemar's test and the paired accuracy difference
(stages.evaluation.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stages.evaluation.stats import (
    McNemarResult,
    PairedDifference,
    accuracy_interval,
    correctness,
    mcnemar,
    paired_difference,
)


def _scored(n: int, accuracy: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities whose thresholded predictions hit exactly ``accuracy * n``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right = rng.permutation(n) < round(accuracy * n)
    prob = np.where(right == (y == 1), 0.8, 0.2)
    return y, prob


def test_correctness_thresholds_at_half_inclusive():
    y = np.array([1, 1, 0, 0])
    prob = np.array([0.5, 0.49, 0.5, 0.1])
    assert correctness(y, prob).tolist() == [True, False, False, True]


def test_correctness_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"one length, got shapes \(3,\) and \(2,\)"):
        correctness(np.zeros(3), np.zeros(2))


def test_accuracy_interval_covers_estimate_and_matches_normal_width():
    y, prob = _scored(10_000, 0.9, seed=0)
    low, high = accuracy_interval(y, prob, seed=1)
    assert low < 0.9 < high
    # Normal approximation of the binomial: 2 * 1.96 * sqrt(p (1 - p) / n) = 0.01176.
    assert high - low == pytest.approx(2 * 1.96 * math.sqrt(0.9 * 0.1 / 10_000), rel=0.08)


def test_accuracy_interval_shrinks_with_n():
    small = accuracy_interval(*_scored(400, 0.9, seed=0), seed=1)
    large = accuracy_interval(*_scored(10_000, 0.9, seed=0), seed=1)
    # Width ~ 1 / sqrt(n): 25x the reviews, about 1/5 of the width.
    ratio = (large[1] - large[0]) / (small[1] - small[0])
    assert ratio == pytest.approx(0.2, abs=0.04)


def test_accuracy_interval_is_seeded():
    y, prob = _scored(1000, 0.8, seed=3)
    assert accuracy_interval(y, prob, seed=7) == accuracy_interval(y, prob, seed=7)
    assert accuracy_interval(y, prob, seed=7) != accuracy_interval(y, prob, seed=8)


def test_accuracy_interval_of_a_perfect_model_is_a_point():
    y = np.array([0, 1] * 50)
    assert accuracy_interval(y, y.astype(float), seed=0) == (1.0, 1.0)


def test_mcnemar_exact_pvalue_by_hand():
    # 1 review only A gets right, 9 only B: p = 2 * P(X <= 1 | n=10, 1/2) = 2 * 11 / 1024.
    a = np.array([True] * 5 + [True] + [False] * 9)
    b = np.array([True] * 5 + [False] + [True] * 9)
    assert mcnemar(a, b) == McNemarResult(only_a=1, only_b=9, statistic=1, pvalue=22 / 1024)


def test_mcnemar_balanced_discordance_gives_p_one():
    a = np.array([True, True, True, False, False, False, True])
    b = np.array([False, False, False, True, True, True, True])
    assert mcnemar(a, b) == McNemarResult(3, 3, 3, 1.0)


def test_mcnemar_identical_models():
    a = np.array([True, False, True])
    assert mcnemar(a, a) == McNemarResult(0, 0, 0, 1.0)


def test_mcnemar_rejects_unpaired_arrays():
    with pytest.raises(ValueError, match=r"differ in shape: \(2,\) vs \(3,\)"):
        mcnemar(np.ones(2, bool), np.ones(3, bool))


def test_paired_difference_identical_models_is_zero():
    y, prob = _scored(500, 0.85, seed=0)
    assert paired_difference(y, prob, prob, seed=0) == PairedDifference(0.85, 0.85, 0.0, 0.0, 0.0)


def test_paired_difference_counts_and_pairs_the_resamples():
    # 100 positives: A right on the first 80, B on the first 90 (all of A's and 10 more).
    y = np.ones(100, int)
    prob_a = (np.arange(100) < 80).astype(float)
    prob_b = (np.arange(100) < 90).astype(float)
    result = paired_difference(y, prob_a, prob_b, seed=0)
    assert (result.accuracy_a, result.accuracy_b) == (0.8, 0.9)
    assert result.difference == pytest.approx(0.1)
    # B is right wherever A is, so no resample of the same reviews favours A.
    assert 0.0 < result.low < 0.1 < result.high
    # Paired: sd of the difference sqrt(0.1 * 0.9 / 100) = 0.03, not the unpaired
    # sqrt(0.8 * 0.2 / 100 + 0.9 * 0.1 / 100) = 0.05.
    assert result.high - result.low == pytest.approx(2 * 1.96 * 0.03, rel=0.2)
