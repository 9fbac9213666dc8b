"""The ``transformer`` family (DLwP ch. 11): PositionalEmbedding (+ hashed bigrams) ->
TransformerEncoder (LayerNorm) -> average pooling -> Dense sigmoid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from stages.common.config import PosInt, model, require
from stages.common.params import Buckets, Dropout, NeuralClassifierParams
from stages.families.registry import Reference
from stages.models.features import token_features

if TYPE_CHECKING:
    import keras
    import numpy as np

KIND = "keras_sentiment"
INPUTS = ("vectorized",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="DLwP ch. 11, transformer encoder (embed 256), seq 600",
    anchor="0.875 (no positions) / 0.883 (positions)",
    accuracy=0.883,
)

features = token_features  # the family's input: the vectorize stage's token ids


@model
class Params(NeuralClassifierParams):
    """``train.transformer``: widths, heads, position encoding, dropouts, bigram buckets."""

    embed_dim: PosInt
    num_heads: PosInt
    ff_dim: PosInt
    position: Literal["learned", "sinusoidal", "none"]
    dropout: Dropout
    attention_dropout: Dropout
    bigram_buckets: Buckets

    @model_validator(mode="after")
    def _heads_divide_embed_dim(self) -> Params:
        dim, heads = self.embed_dim, self.num_heads
        require(dim % heads == 0, "embed_dim", f"{dim} is not a multiple of num_heads={heads}")
        return self


def build(
    cfg: Params, *, vocab_size: int, input_length: int | None,
    embeddings: np.ndarray | None = None,
) -> keras.Model:
    """PositionalEmbedding -> TransformerEncoder (LayerNorm) -> average pooling -> Dense sigmoid.

    Average rather than DLwP's max pooling: both ignore the padding mask here (no mask is
    computed), and the mean dilutes padded positions instead of letting one dominate.
    """
    import keras
    from keras import layers

    from stages.models.keras.layers import (
        PositionalEmbedding,
        TransformerEncoder,
        add_bigrams,
        sigmoid_head,
        token_input,
    )

    inputs = token_input(input_length)
    x = PositionalEmbedding(
        cfg.seq_len, vocab_size, cfg.embed_dim, position=cfg.position, name="embedding"
    )(inputs)
    x = add_bigrams(x, inputs, cfg.bigram_buckets)
    x = TransformerEncoder(
        cfg.embed_dim,
        cfg.num_heads,
        cfg.ff_dim,
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        name="encoder",
    )(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, sigmoid_head(x, cfg.dropout), name="transformer")
