"""A trained sentiment family as one raw-text model: an encoder (text -> model input) + a model.

``models/<family>/`` holds ``encoder.joblib`` (an object with ``transform(texts) -> model input``)
and ``model.keras`` or ``model.joblib`` (anything with ``predict_proba``: a scikit-learn pipeline,
or a family's NumPy export of its Keras model). ``serving.TextModel`` does not know the families:
any encoder with that contract works (token ids, n-gram ids or standardized text).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from stages.common.constants import PREPROCESS_KEYS

ENCODER_FILE = "encoder.joblib"
KERAS_FILE = "model.keras"
SKLEARN_FILE = "model.joblib"


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """P(positive) from a model's output: the sigmoid column or the softmax's class-1 column."""
    return predictions[:, -1].astype(np.float64)


class TokenIdEncoder:
    """Reviews -> int32 ``[n, seq_len]`` token ids, exactly as the family was trained on.

    The vocabulary is the vectorize stage's, clipped to the family's top ``vocab_size`` ids
    (a dropped token is out of vocabulary, id 1, as ``clip_ids`` makes it). The ids then go
    through the very ``save_split``/``load_split`` code that fed training (in memory), so
    padding and truncation cannot drift from the stage's.
    """

    def __init__(
        self, vocabulary: list[str], *, vocab_size: int, seq_len: int, padding: str,
        truncating: str,
    ) -> None:
        self.vocabulary = list(vocabulary[:vocab_size])
        self.vocab_size = vocab_size
        self.seq_len = seq_len
        self.padding = padding
        self.truncating = truncating
        self._layer: Any = None

    @property
    def preprocess(self) -> dict[str, Any]:
        """The family params that shape its input (written as ``preprocess.json``)."""
        return {key: getattr(self, key) for key in PREPROCESS_KEYS}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_layer": None}  # a Keras layer is rebuilt, not pickled

    def transform(self, texts: list[str]) -> np.ndarray:
        """Token ids ``[len(texts), seq_len]``."""
        import tensorflow as tf

        from stages.data.text import make_vectorizer
        from stages.data.vectorized import load_split, save_split

        if self._layer is None:
            self._layer = make_vectorizer(self.vocabulary)
        ragged = self._layer(tf.constant(texts, dtype=tf.string))
        buffer = io.BytesIO()
        save_split(buffer, ids=ragged.flat_values.numpy(), offsets=ragged.row_splits.numpy(),
                   labels=np.zeros(len(texts), dtype=np.int8))
        buffer.seek(0)
        x, _ = load_split(buffer, vocab_size=self.vocab_size, seq_len=self.seq_len,
                          padding=self.padding, truncating=self.truncating)
        return x


class StandardizingEncoder:
    """Reviews -> the pipeline's standardized text, then ``inner.transform`` of it if given
    (n-gram features); a scikit-learn pipeline with its own vectorizer needs no ``inner``."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def transform(self, texts: list[str]) -> Any:
        """The standardized reviews, or ``inner``'s features of them."""
        from stages.data.standardize import standardize_texts

        standardized = standardize_texts(texts)
        return standardized if self.inner is None else self.inner.transform(standardized)


def save_text_model(directory: Path, encoder: Any, model: Any) -> None:
    """Write ``encoder.joblib`` and ``model.keras`` (a Keras model) or ``model.joblib``.

    A Keras model is saved for inference: its architecture and weights, without the optimizer
    state (Adam's two slots per weight would triple the file, the DVC cache and each MLflow copy).
    """
    import joblib
    import keras

    joblib.dump(encoder, directory / ENCODER_FILE)
    if isinstance(model, keras.Model):
        # from_config, not clone_model: a clone shares the compiled model's optimizer.
        inference = type(model).from_config(model.get_config())
        inference.set_weights(model.get_weights())
        inference.save(directory / KERAS_FILE)
    else:
        joblib.dump(model, directory / SKLEARN_FILE)
