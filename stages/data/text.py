"""The one tokenization standard of the IMDB pipeline.

``standardize`` + whitespace split inside a Keras ``TextVectorization`` turn a review into tokens;
the ``vectorize`` stage adapts that layer on the training split and stores the ids, and
``predict`` rebuilds the same layer from ``vocab.tsv``. The ids, the vocabulary file and the
splits follow ``stages.data.vectorized``. ``stages.data.standardize`` holds the patterns and
the same standardization in pure Python (``standardize_texts``), for code that must not import
TensorFlow.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from stages.common.constants import KERAS_PACKAGE
from stages.data.standardize import LINE_BREAK, PUNCTUATION


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
def standardize(text: tf.Tensor) -> tf.Tensor:
    """Lowercase, turn ``<br />`` line breaks into spaces and strip ASCII punctuation.

    Line breaks become spaces before punctuation is stripped, so ``end.<br />The`` gives
    ``end the`` rather than ``endbr the``. Lowercasing is Unicode-aware (``É`` -> ``é``); invalid
    UTF-8 becomes U+FFFD and a NUL byte a space.

    Args:
        text: string tensor of any shape.

    Returns:
        The standardized string tensor, same shape.
    """
    # Unicode-aware lowercasing drops everything from a NUL byte on: make NUL a space.
    text = tf.strings.regex_replace(text, r"\x00", " ")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, LINE_BREAK, " ")
    return tf.strings.regex_replace(text, PUNCTUATION, "")


def make_vectorizer(vocabulary: list[str] | None = None) -> keras.layers.TextVectorization:
    """Build the project's ``TextVectorization`` (ragged int ids, id 0 pad, id 1 ``[UNK]``).

    Args:
        vocabulary: full vocabulary including ``""`` and ``"[UNK]"`` at ids 0 and 1 (as
            returned by ``vectorized.read_vocab``); ``None`` for a layer to ``adapt``.

    Returns:
        The layer; with ``max_tokens=None`` adapting keeps every training token, by frequency.
    """
    return keras.layers.TextVectorization(
        max_tokens=None,
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        ragged=True,
        vocabulary=vocabulary,
    )
