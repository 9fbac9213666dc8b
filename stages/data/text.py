"""The one tokenization standard of the IMDB pipeline.

``standardize`` + whitespace split inside a Keras ``TextVectorization`` turn a review into tokens;
the ``vectorize`` stage adapts that layer on the training split and stores the ids, and
``predict`` rebuilds the same layer from ``vocab.tsv``. The ids, the vocabulary file and the
splits follow ``stages.data.vectorized``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from stages.common.constants import KERAS_PACKAGE

# Standardized text is whitespace-separated words: the token pattern of its vectorizers.
TOKEN_PATTERN = r"\S+"
# Keras' own "lower_and_strip_punctuation" character class, so tokens match the Keras default.
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
# IMDB reviews carry HTML line breaks: "<br />", "<br/>", "<br>".
_LINE_BREAK = r"<br\s*/?>"


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
    text = tf.strings.regex_replace(text, _LINE_BREAK, " ")
    return tf.strings.regex_replace(text, _PUNCTUATION, "")


def standardize_texts(texts: list[str]) -> list[str]:
    """``standardize`` on Python strings: whitespace-separated words, as the vectorizer sees."""
    out = standardize(tf.constant(texts, dtype=tf.string)).numpy()
    return [t.decode("utf-8") for t in np.asarray(out).ravel()]


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
