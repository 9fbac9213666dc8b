"""A saved raw-text model loaded for scoring: ``models/<family>/`` (``textmodel``) as a
``TextModel``, with the custom Keras layers registered before a Keras model is rebuilt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stages.models.textmodel import ENCODER_FILE, KERAS_FILE, SKLEARN_FILE, KerasScorer


@dataclass
class TextModel:
    """An encoder and the model that scores its output (anything with ``predict_proba``)."""

    encoder: Any
    model: Any

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(positive) per review, float64 ``[len(texts)]``."""
        x = self.encoder.transform(list(texts))
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)


def is_text_model(directory: Path) -> bool:
    """Whether ``directory`` holds an encoder and a model."""
    return (directory / ENCODER_FILE).is_file() and any(
        (directory / name).is_file() for name in (KERAS_FILE, SKLEARN_FILE)
    )


def load_text_model(directory: Path) -> TextModel:
    """The ``TextModel`` saved in ``directory``; a Keras model is wrapped in a ``KerasScorer``
    (custom Keras layers registered first). TensorFlow is imported only for a Keras model."""
    import joblib

    encoder = joblib.load(directory / ENCODER_FILE)
    if (directory / KERAS_FILE).is_file():
        import keras

        import stages.models.keras  # noqa: F401  (registers the custom layers)

        model = keras.models.load_model(directory / KERAS_FILE, compile=False)
        return TextModel(encoder, KerasScorer(model))
    return TextModel(encoder, joblib.load(directory / SKLEARN_FILE))
