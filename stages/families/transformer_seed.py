"""The ``transformer_seed`` family: the seed transformer classifier, exactly.

Token + learned position embedding, one encoder block with BatchNorm (add & norm after attention
and after the feed-forward block), global average pooling, a 2-way softmax (``[batch, 2]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stages.common.config import PosInt, model
from stages.common.params import NeuralClassifierParams
from stages.families.registry import Reference
from stages.models.features import token_features

if TYPE_CHECKING:
    import keras
    import numpy as np

KIND = "keras_sentiment"
INPUTS = ("vectorized",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="seed transformer classifier (num_words 10000, maxlen 80, 10 epochs)",
    anchor="0.75296",
    accuracy=0.75296,
    confusion={"tn": 10780, "fp": 1720, "fn": 4456, "tp": 8044},
)

features = token_features  # the family's input: the vectorize stage's token ids


@model
class Params(NeuralClassifierParams):
    """``train.transformer_seed``: the seed's widths, heads and key size."""

    embed_dim: PosInt
    num_heads: PosInt
    key_dim: PosInt
    ff_dim: PosInt


def build(
    cfg: Params, *, vocab_size: int, input_length: int | None,
    embeddings: np.ndarray | None = None,
) -> keras.Model:
    """The seed: embedding + learned positions, MHA + add & BatchNorm, FFN + add & BatchNorm,
    global average pooling, Dense(2) softmax."""
    import keras
    from keras import layers

    from stages.models.keras.layers import (
        OUTPUT_NAME,
        PositionalEmbedding,
        TransformerEncoder,
        token_input,
    )

    inputs = token_input(input_length)
    x = PositionalEmbedding(cfg.seq_len, vocab_size, cfg.embed_dim, name="embedding")(inputs)
    x = TransformerEncoder(
        cfg.embed_dim, cfg.num_heads, cfg.ff_dim, key_dim=cfg.key_dim, norm="batch", name="encoder"
    )(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = layers.Dense(2, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="transformer_seed")
