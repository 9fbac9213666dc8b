"""A trained sentiment family as one raw-text model: an encoder (text -> model input) + a model.

``models/<family>/`` holds ``encoder.joblib`` (an object with ``transform(texts) -> model input``)
and ``model.keras`` or ``model.joblib`` (anything with ``predict_proba``: a scikit-learn pipeline,
or a family's NumPy export of its Keras model). ``serving.TextModel`` does not know the families:
any encoder with that contract works (token ids, n-gram ids or standardized text). Nothing here
imports TensorFlow until a Keras model is scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stages.common.constants import PREDICT_BATCH, PREPROCESS_KEYS
from stages.data.standardize import split_tokens, standardize_texts
from stages.data.vectorized import pad_rows, token_index, tokenize

ENCODER_FILE = "encoder.joblib"
KERAS_FILE = "model.keras"
SKLEARN_FILE = "model.joblib"


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """P(positive) from a model's output: the sigmoid column or the softmax's class-1 column."""
    return np.asarray(predictions)[:, -1].astype(np.float64)


class KerasScorer:
    """A Keras model called directly, through one traced function: no ``model.predict`` set-up
    per call, so one review costs its forward pass. ``predict_proba`` as scikit-learn's."""

    def __init__(self, model: Any, *, batch_size: int = PREDICT_BATCH) -> None:
        import tensorflow as tf

        spec = model.inputs[0]
        self.model = model
        self.batch_size = batch_size
        # A fixed signature with an open batch dimension: one trace serves every request size.
        self._forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec((None, *spec.shape[1:]), spec.dtype)],
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``[n, 2]``: P(negative), P(positive) per row of ``x``, ``batch_size`` rows a call."""
        parts = [self._forward(x[i : i + self.batch_size]).numpy()
                 for i in range(0, len(x), self.batch_size)]
        positive = positive_probability(np.concatenate(parts))
        return np.stack([1 - positive, positive], axis=1)


class TokenIdEncoder:
    """Reviews -> int32 ``[n, seq_len]`` token ids, exactly as the family was trained on.

    The vocabulary is the vectorize stage's, clipped to the family's top ``vocab_size`` ids
    (a dropped token is out of vocabulary, id 1, as ``clip_ids`` makes it). Tokens and ids
    come from the vectorize stage's own ``split_tokens`` and ``tokenize``
    (``tests/mirror/test_standardize_identity.py`` checks them against TensorFlow's
    ``TextVectorization`` on every IMDB review); padding and truncation are ``load_split``'s own.
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

    @property
    def preprocess(self) -> dict[str, Any]:
        """The family params that shape its input (written as ``preprocess.json``)."""
        return {key: getattr(self, key) for key in PREPROCESS_KEYS}

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_index"}

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Each review's int32 token ids, whole (before padding and truncation)."""
        if "_index" not in self.__dict__:  # built on first use, not pickled
            self._index = token_index(self.vocabulary)
        ids, offsets = tokenize(self._index, split_tokens(texts))
        return [ids[start:end] for start, end in zip(offsets[:-1], offsets[1:], strict=True)]

    def transform(self, texts: list[str]) -> np.ndarray:
        """Token ids ``[len(texts), seq_len]``."""
        return pad_rows(self.token_ids(texts), self.seq_len, self.padding, self.truncating)


class StandardizingEncoder:
    """Reviews -> the pipeline's standardized text, then ``inner.transform`` of it if given
    (n-gram features); a scikit-learn pipeline with its own vectorizer needs no ``inner``."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def transform(self, texts: list[str]) -> Any:
        """The standardized reviews, or ``inner``'s features of them."""
        standardized = standardize_texts(texts)
        return standardized if self.inner is None else self.inner.transform(standardized)


def save_text_model(directory: Path, encoder: Any, model: Any) -> None:
    """Write ``encoder.joblib`` and ``model.joblib`` (anything with ``predict_proba``) or
    ``model.keras`` (a Keras model).

    A Keras model is saved for inference: its architecture and weights, without the optimizer
    state (Adam's two slots per weight would triple the file, the DVC cache and each MLflow copy).
    """
    import joblib

    joblib.dump(encoder, directory / ENCODER_FILE)
    if hasattr(model, "predict_proba"):
        joblib.dump(model, directory / SKLEARN_FILE)
        return
    # from_config, not clone_model: a clone shares the compiled model's optimizer.
    inference = type(model).from_config(model.get_config())
    inference.set_weights(model.get_weights())
    inference.save(directory / KERAS_FILE)
