"""The ``glove_bilstm`` family: GloVe-initialised Embedding -> Bidirectional LSTM -> Dense
sigmoid, reading the GloVe matrix of the ``embeddings`` stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from stages.common.config import Int, PosInt, model, require
from stages.common.params import Dropout, NeuralClassifierParams
from stages.families.registry import Reference
from stages.models.features import token_features

if TYPE_CHECKING:
    import keras
    import numpy as np

KIND = "keras_sentiment"
INPUTS = ("vectorized", "embeddings")  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="DLwP ch. 11, frozen GloVe 100d + BiLSTM(32), seq 600", anchor="~ 0.87", accuracy=0.87
)

# The pretrained layer the Keras loop freezes for the first ``frozen_epochs`` epochs.
FROZEN_LAYER = "glove"

features = token_features  # the family's input: the vectorize stage's token ids


@model
class Params(NeuralClassifierParams):
    """``train.glove_bilstm``: LSTM units, pooling, head dropout, frozen warm-up epochs."""

    units: PosInt
    pooling: Literal["last", "max"]  # last LSTM states, or max over all outputs
    dropout: Dropout
    frozen_epochs: Int  # warm-up epochs with GloVe frozen, then fine-tuned (counted in epochs)

    @model_validator(mode="after")
    def _frozen_within_epochs(self) -> Params:
        frozen = self.frozen_epochs
        ok = 0 <= frozen <= self.epochs
        require(ok, "frozen_epochs", f"must be in [0, epochs], got {frozen}")
        return self


def build(
    cfg: Params, *, vocab_size: int, input_length: int | None,
    embeddings: np.ndarray | None = None,
) -> keras.Model:
    """GloVe-initialised Embedding (layer ``glove``) -> BiLSTM (last or max) -> Dense sigmoid.

    Args:
        embeddings: ``[>= vocab_size, dim]`` GloVe matrix; rows ``>= vocab_size`` are unused.

    Raises:
        ValueError: ``embeddings`` is missing or has fewer rows than ``vocab_size``.
    """
    if embeddings is None or embeddings.ndim != 2 or embeddings.shape[0] < vocab_size:
        shape = None if embeddings is None else embeddings.shape
        raise ValueError(f"glove_bilstm needs a [>= {vocab_size}, dim] matrix, got {shape}")
    import keras
    from keras import layers

    from stages.models.keras.layers import pool, sigmoid_head, token_input

    inputs = token_input(input_length)
    glove = layers.Embedding(vocab_size, embeddings.shape[1], name=FROZEN_LAYER)
    x = glove(inputs)
    glove.set_weights([embeddings[:vocab_size]])
    lstm = layers.LSTM(cfg.units, return_sequences=cfg.pooling != "last")
    x = pool(layers.Bidirectional(lstm, name="bilstm")(x), cfg.pooling)
    return keras.Model(inputs, sigmoid_head(x, cfg.dropout), name="glove_bilstm")
