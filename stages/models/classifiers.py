"""The Keras sentiment families: their params models (``train.<family>``) and pure builders
``build_<family>(cfg, *, vocab_size, embeddings)``.

Each returns an uncompiled functional model with input ``token_ids`` (int32 ``[batch, seq_len]``,
0 = padding) and output ``sentiment``: P(positive) of shape ``[batch, 1]``, except
``transformer_seed``, which keeps the seed's 2-way softmax (``[batch, 2]``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import keras
import numpy as np
from keras import layers
from pydantic import Field, model_validator

from stages.common.config import Float, Int, PosInt, check, model, require
from stages.common.params import NeuralClassifierParams
from stages.models.layers import HashedBigramEmbedding, PositionalEmbedding, TransformerEncoder

INPUT_NAME = "token_ids"
OUTPUT_NAME = "sentiment"
GLOVE_LAYER = "glove"

Dropout = Annotated[Float, check(lambda v: 0 <= v < 1, "must be in [0, 1)")]
Buckets = Annotated[Int, Field(ge=0)]  # hashed bigram embeddings added to the tokens' (0: off)


@model
class TransformerSeedParams(NeuralClassifierParams):
    """The seed transformer: token + learned position embedding, one BatchNorm encoder block."""

    embed_dim: PosInt
    num_heads: PosInt
    key_dim: PosInt
    ff_dim: PosInt


@model
class LstmParams(NeuralClassifierParams):
    """Embedding -> LSTM -> Dense sigmoid."""

    embed_dim: PosInt
    units: PosInt
    pooling: Literal["last", "max"]  # last LSTM state, or max over all its outputs
    dropout: Dropout
    bigram_buckets: Buckets


@model
class GloveBilstmParams(NeuralClassifierParams):
    """GloVe Embedding (data/prepared/embeddings.npy) -> Bidirectional LSTM -> Dense sigmoid."""

    units: PosInt
    pooling: Literal["last", "max"]  # last LSTM states, or max over all outputs
    dropout: Dropout
    frozen_epochs: Int  # warm-up epochs with GloVe frozen, then fine-tuned (counted in epochs)

    @model_validator(mode="after")
    def _frozen_within_epochs(self) -> GloveBilstmParams:
        frozen = self.frozen_epochs
        ok = 0 <= frozen <= self.epochs
        require(ok, "frozen_epochs", f"must be in [0, epochs], got {frozen}")
        return self


@model
class TransformerParams(NeuralClassifierParams):
    """PositionalEmbedding -> TransformerEncoder (LayerNorm) -> pooling -> Dense sigmoid."""

    embed_dim: PosInt
    num_heads: PosInt
    ff_dim: PosInt
    position: Literal["learned", "sinusoidal", "none"]
    dropout: Dropout
    attention_dropout: Dropout
    bigram_buckets: Buckets

    @model_validator(mode="after")
    def _heads_divide_embed_dim(self) -> TransformerParams:
        dim, heads = self.embed_dim, self.num_heads
        require(dim % heads == 0, "embed_dim", f"{dim} is not a multiple of num_heads={heads}")
        return self


def _input(cfg: NeuralClassifierParams) -> keras.KerasTensor:
    return keras.Input(shape=(cfg.seq_len,), dtype="int32", name=INPUT_NAME)


def _add_bigrams(
    x: keras.KerasTensor, inputs: keras.KerasTensor, buckets: int
) -> keras.KerasTensor:
    """Add hashed bigram embeddings (``buckets`` rows) to the token embeddings ``x``."""
    if not buckets:
        return x
    bigrams = HashedBigramEmbedding(buckets, x.shape[-1], name="bigrams")(inputs)
    return layers.Add(name="add_bigrams")([x, bigrams])


def _pool(x: keras.KerasTensor, pooling: str) -> keras.KerasTensor:
    """``"max"``: max over the time steps of a sequence output; ``"last"``: already pooled."""
    return layers.GlobalMaxPooling1D(name="pool")(x) if pooling == "max" else x


def _sigmoid_head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(1, activation="sigmoid", name=OUTPUT_NAME)(x)


def build_transformer_seed(
    cfg: TransformerSeedParams, *, vocab_size: int, embeddings: np.ndarray | None = None
) -> keras.Model:
    """The seed: embedding + learned positions, MHA + add & BatchNorm, FFN + add & BatchNorm,
    global average pooling, Dense(2) softmax."""
    inputs = _input(cfg)
    x = PositionalEmbedding(cfg.seq_len, vocab_size, cfg.embed_dim, name="embedding")(inputs)
    x = TransformerEncoder(
        cfg.embed_dim, cfg.num_heads, cfg.ff_dim, key_dim=cfg.key_dim, norm="batch", name="encoder"
    )(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = layers.Dense(2, activation="softmax", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name="transformer_seed")


def build_lstm(
    cfg: LstmParams, *, vocab_size: int, embeddings: np.ndarray | None = None
) -> keras.Model:
    """Embedding (+ hashed bigrams) -> LSTM (last state or max over outputs) -> Dense sigmoid.

    No padding mask: with ``padding: pre`` the zeros come first and the last state has read the
    whole review, while a mask would cost the LSTM its fast path.
    """
    inputs = _input(cfg)
    x = layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")(inputs)
    x = _add_bigrams(x, inputs, cfg.bigram_buckets)
    x = layers.LSTM(cfg.units, return_sequences=cfg.pooling != "last", name="lstm")(x)
    x = _pool(x, cfg.pooling)
    return keras.Model(inputs, _sigmoid_head(x, cfg.dropout), name="lstm")


def build_glove_bilstm(
    cfg: GloveBilstmParams, *, vocab_size: int, embeddings: np.ndarray | None = None
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
    inputs = _input(cfg)
    glove = layers.Embedding(vocab_size, embeddings.shape[1], name=GLOVE_LAYER)
    x = glove(inputs)
    glove.set_weights([embeddings[:vocab_size]])
    lstm = layers.LSTM(cfg.units, return_sequences=cfg.pooling != "last")
    x = _pool(layers.Bidirectional(lstm, name="bilstm")(x), cfg.pooling)
    return keras.Model(inputs, _sigmoid_head(x, cfg.dropout), name="glove_bilstm")


def build_transformer(
    cfg: TransformerParams, *, vocab_size: int, embeddings: np.ndarray | None = None
) -> keras.Model:
    """PositionalEmbedding -> TransformerEncoder (LayerNorm) -> average pooling -> Dense sigmoid.

    Average rather than DLwP's max pooling: both ignore the padding mask here (no mask is
    computed), and the mean dilutes padded positions instead of letting one dominate.
    """
    inputs = _input(cfg)
    x = PositionalEmbedding(
        cfg.seq_len, vocab_size, cfg.embed_dim, position=cfg.position, name="embedding"
    )(inputs)
    x = _add_bigrams(x, inputs, cfg.bigram_buckets)
    x = TransformerEncoder(
        cfg.embed_dim,
        cfg.num_heads,
        cfg.ff_dim,
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        name="encoder",
    )(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, _sigmoid_head(x, cfg.dropout), name="transformer")


def positive_probability(predictions: np.ndarray) -> np.ndarray:
    """P(positive) from a model's output: the sigmoid column or the softmax's class-1 column."""
    return predictions[:, -1].astype(np.float64)
