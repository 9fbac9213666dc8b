"""The predictions ``.npz`` contract (stages.evaluation.predictions)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from stages.evaluation.predictions import (
    PredictionsFormatError,
    parse_predictions,
    predictions_bytes,
    predictions_path,
    save_predictions,
)


def test_predictions_path():
    assert str(predictions_path("lstm")) == "metrics/predictions/lstm.npz"


def test_bytes_round_trip_with_contract_dtypes_and_are_reproducible(tmp_path):
    label, prob = np.array([0, 1, 1]), np.array([0.25, 0.5, 1.0], np.float32)
    data = predictions_bytes(label, prob)
    assert data == predictions_bytes(label, prob)
    save_predictions(tmp_path / "p.npz", label, prob)
    assert (tmp_path / "p.npz").read_bytes() == data
    got_label, got_prob = parse_predictions(data, source="p.npz")
    assert got_label.dtype == np.int8 and got_prob.dtype == np.float64
    assert got_label.tolist() == [0, 1, 1] and got_prob.tolist() == [0.25, 0.5, 1.0]


def test_missing_array_is_named():
    buffer = io.BytesIO()
    np.savez(buffer, label=np.zeros(3, np.int8))
    with pytest.raises(
        PredictionsFormatError, match=r"^x.npz@HEAD: missing arrays \['probability'\]$"
    ):
        parse_predictions(buffer.getvalue(), source="x.npz@HEAD")


def test_shape_mismatch_is_named():
    data = predictions_bytes(np.zeros(3), np.zeros(2))
    with pytest.raises(PredictionsFormatError, match=r"got shapes \(3,\) and \(2,\)$"):
        parse_predictions(data, source="x.npz")


def test_not_an_npz():
    with pytest.raises(PredictionsFormatError, match=r"^x.npz: not a readable .npz file"):
        parse_predictions(b"PK-not-really", source="x.npz")
