"""The ``lstm`` family: Embedding (+ hashed bigrams) -> LSTM -> Dense sigmoid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from stages.common.config import PosInt, model
from stages.common.params import Buckets, Dropout, NeuralClassifierParams
from stages.families.registry import Reference
from stages.models.features import token_features

if TYPE_CHECKING:
    import keras
    import numpy as np

KIND = "keras_sentiment"
INPUTS = ("vectorized",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="course slides, LSTM on IMDB (beat the seed)", anchor=">= 0.87", accuracy=0.87
)

features = token_features  # the family's input: the vectorize stage's token ids


@model
class Params(NeuralClassifierParams):
    """``train.lstm``: embedding width, LSTM units, pooling, head dropout, bigram buckets."""

    embed_dim: PosInt
    units: PosInt
    pooling: Literal["last", "max"]  # last LSTM state, or max over all its outputs
    dropout: Dropout
    bigram_buckets: Buckets


def build(
    cfg: Params, *, vocab_size: int, input_length: int | None,
    embeddings: np.ndarray | None = None,
) -> keras.Model:
    """Embedding (+ hashed bigrams) -> LSTM (last state or max over outputs) -> Dense sigmoid.

    No padding mask: with ``padding: pre`` the zeros come first and the last state has read the
    whole review, while a mask would cost the LSTM its fast path.
    """
    import keras
    from keras import layers

    from stages.models.keras.layers import add_bigrams, pool, sigmoid_head, token_input

    inputs = token_input(input_length)
    x = layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")(inputs)
    x = add_bigrams(x, inputs, cfg.bigram_buckets)
    x = layers.LSTM(cfg.units, return_sequences=cfg.pooling != "last", name="lstm")(x)
    x = pool(x, cfg.pooling)
    return keras.Model(inputs, sigmoid_head(x, cfg.dropout), name="lstm")
