"""The Keras layers and blocks the sentiment families build from, registered so a saved
``.keras`` reloads.

Importing ``stages.models.keras`` imports this module and so registers the layers:
``keras.models.load_model(path)`` works in any process that imported it.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from stages.common.constants import KERAS_PACKAGE

# The input and output names of every sentiment model.
INPUT_NAME = "token_ids"
OUTPUT_NAME = "sentiment"
POSITIONS = ("learned", "sinusoidal", "none")
NORMS = ("batch", "layer")


def sinusoidal_table(length: int, dim: int) -> Any:
    """Fixed encoding of "Attention is all you need": sin on even, cos on odd channels."""
    pos = ops.cast(ops.arange(length), "float32")[:, None]
    i = ops.cast(ops.arange(dim), "float32")[None, :]
    rates = ops.exp(-math.log(10000.0) * (2.0 * ops.floor(i / 2.0)) / dim)
    angles = pos * rates
    even = ops.equal(ops.mod(ops.arange(dim), 2), 0)[None, :]
    return ops.where(even, ops.sin(angles), ops.cos(angles))


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class PositionalEmbedding(layers.Layer):
    """Token embedding plus a position encoding (learned, sinusoidal, or none).

    Args:
        sequence_length: Fixed input length (positions ``0..sequence_length-1``).
        input_dim: Vocabulary size.
        output_dim: Embedding width.
        position: ``"learned"`` (an ``Embedding(sequence_length, output_dim)``),
            ``"sinusoidal"`` (fixed sin/cos table) or ``"none"``.
        mask_zero: Emit a padding mask for token id 0.
    """

    def __init__(
        self,
        sequence_length: int,
        input_dim: int,
        output_dim: int,
        position: str = "learned",
        mask_zero: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        self.sequence_length = sequence_length
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.position = position
        self.mask_zero = mask_zero
        self.token_embedding = layers.Embedding(input_dim, output_dim, name="token_embedding")
        self.position_embedding = (
            layers.Embedding(sequence_length, output_dim, name="position_embedding")
            if position == "learned"
            else None
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.token_embedding.build(input_shape)
        if self.position_embedding is not None:
            self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = self.token_embedding(inputs)
        length = ops.shape(inputs)[-1]
        if self.position == "learned":
            x = x + self.position_embedding(ops.arange(length))
        elif self.position == "sinusoidal":
            x = x + ops.cast(sinusoidal_table(length, self.output_dim), x.dtype)
        return x

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return ops.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "position": self.position,
            "mask_zero": self.mask_zero,
        }


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class MatmulAttention(layers.MultiHeadAttention):
    """Keras' ``MultiHeadAttention`` (same weights, same math) computed with batched matmuls.

    Keras computes the scores and the weighted values with einsums, which oneDNN runs as its
    slowest op on CPU: they were 43 % of a ``transformer_seed`` training step. Transposed heads
    and ``matmul`` give the same result. One attention axis (``[batch, length, dim]`` inputs).
    """

    def _compute_attention(
        self,
        query: Any,
        key: Any,
        value: Any,
        attention_mask: Any = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> tuple[Any, Any]:
        # Projected heads: [batch, length, heads, dim] -> [batch, heads, length, dim].
        query = ops.transpose(query, (0, 2, 1, 3)) * ops.cast(
            self._inverse_sqrt_key_dim, query.dtype
        )
        scores = ops.matmul(query, ops.transpose(key, (0, 2, 3, 1)))
        scores = self._masked_softmax(scores, attention_mask)
        weights = self._dropout_layer(scores, training=training) if self._dropout else scores
        attended = ops.matmul(weights, ops.transpose(value, (0, 2, 1, 3)))
        return ops.transpose(attended, (0, 2, 1, 3)), scores


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class TransformerEncoder(layers.Layer):
    """Post-norm encoder block: self-attention, add & norm, feed-forward, add & norm.

    Args:
        embed_dim: Width of inputs and outputs.
        num_heads: Attention heads.
        ff_dim: Hidden width of the feed-forward block (ReLU), projected back to ``embed_dim``.
        key_dim: Per-head key width; ``None`` means ``embed_dim // num_heads``.
        norm: ``"layer"`` (LayerNormalization) or ``"batch"`` (BatchNormalization, as the seed).
        dropout: Dropout on both residual branches.
        attention_dropout: Dropout on the attention weights; ``None``: ``dropout``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        key_dim: int | None = None,
        norm: str = "layer",
        dropout: float = 0.0,
        attention_dropout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.key_dim = key_dim
        self.norm = norm
        self.dropout = dropout
        self.attention_dropout = dropout if attention_dropout is None else attention_dropout
        self.supports_masking = True
        self.attention = MatmulAttention(
            num_heads,
            key_dim or embed_dim // num_heads,
            dropout=self.attention_dropout,
            name="attention",
        )
        self.ff_hidden = layers.Dense(ff_dim, activation="relu", name="ff_hidden")
        self.ff_out = layers.Dense(embed_dim, name="ff_out")
        norm_cls = layers.LayerNormalization if norm == "layer" else layers.BatchNormalization
        self.norm_1 = norm_cls(name="norm_1")
        self.norm_2 = norm_cls(name="norm_2")
        self.drop_1 = layers.Dropout(dropout)
        self.drop_2 = layers.Dropout(dropout)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.attention.build(input_shape, input_shape)
        self.ff_hidden.build(input_shape)
        self.ff_out.build((*input_shape[:-1], self.ff_dim))
        self.norm_1.build(input_shape)
        self.norm_2.build(input_shape)
        self.built = True

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        attention_mask = (
            None if mask is None else ops.logical_and(mask[:, None, :], mask[:, :, None])
        )
        attended = self.attention(inputs, inputs, attention_mask=attention_mask, training=training)
        x = self.norm_1(inputs + self.drop_1(attended, training=training), training=training)
        ff = self.ff_out(self.ff_hidden(x))
        return self.norm_2(x + self.drop_2(ff, training=training), training=training)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "key_dim": self.key_dim,
            "norm": self.norm,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
        }


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class HashedBigramEmbedding(layers.Layer):
    """Embeds each adjacent token pair ``(x[t-1], x[t])`` through a hashed table (fastText).

    Output ``[batch, length, output_dim]`` is meant to be added to the token embeddings: each
    position then carries its bigram with the previous token. Pairs touching padding (id 0)
    embed to zeros. The hash ``(prev * 1000003 + token) mod num_buckets`` spreads the pairs of
    one previous token over the table; it is computed in the model, so inputs stay token ids.

    Args:
        num_buckets: Rows of the bigram table (collisions share a row).
        output_dim: Embedding width.
    """

    MULTIPLIER = 1000003

    def __init__(self, num_buckets: int, output_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_buckets = num_buckets
        self.output_dim = output_dim
        self.table = layers.Embedding(num_buckets, output_dim, name="bigram_table")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.table.build(input_shape)
        self.built = True

    def call(self, inputs: Any) -> Any:
        tokens = ops.cast(inputs, "int64")
        previous = ops.pad(tokens[:, :-1], [[0, 0], [1, 0]])
        ids = ops.mod(previous * self.MULTIPLIER + tokens, self.num_buckets)
        valid = ops.logical_and(ops.greater(previous, 0), ops.greater(tokens, 0))
        vectors = self.table(ids)
        return vectors * ops.cast(valid, vectors.dtype)[..., None]

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_buckets": self.num_buckets,
            "output_dim": self.output_dim,
        }


@keras.saving.register_keras_serializable(package=KERAS_PACKAGE)
class NbLogit(layers.Layer):
    """``b + sum over ids of r[id] * w[id]``: fixed NB ratios ``r`` times learned weights ``w``.

    Row 0 of ``r`` is 0, so padding ids contribute nothing. ``r`` is a non-trainable weight,
    saved with the model; set it with ``set_ratios`` after building.

    Args:
        vocab_size: Number of n-gram features (ids 1..vocab_size).
    """

    def __init__(self, vocab_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        rows = (self.vocab_size + 1,)
        self.r = self.add_weight(shape=rows, initializer="zeros", trainable=False, name="r")
        self.w = self.add_weight(shape=rows, initializer="zeros", name="w")
        self.b = self.add_weight(shape=(1,), initializer="zeros", name="b")

    def set_ratios(self, ratios: np.ndarray) -> None:
        """Write the NB ratios of features 1..vocab_size (row 0, padding, stays 0)."""
        self.r.assign(np.concatenate([[0.0], np.asarray(ratios)]).astype("float32"))

    def call(self, ids: Any) -> Any:
        terms = ops.take(self.r, ids) * ops.take(self.w, ids)
        return ops.sum(terms, axis=-1, keepdims=True) + self.b

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size}


def token_input(length: int | None) -> keras.KerasTensor:
    """The ``token_ids`` input of a token-id family: int32 ``[batch, length]``, 0 = padding;
    ``length`` None takes any length (a family trained on length-cut batches)."""
    return keras.Input(shape=(length,), dtype="int32", name=INPUT_NAME)


def add_bigrams(
    x: keras.KerasTensor, inputs: keras.KerasTensor, buckets: int
) -> keras.KerasTensor:
    """Add hashed bigram embeddings (``buckets`` rows; 0: none) to the token embeddings ``x``."""
    if not buckets:
        return x
    bigrams = HashedBigramEmbedding(buckets, x.shape[-1], name="bigrams")(inputs)
    return layers.Add(name="add_bigrams")([x, bigrams])


def pool(x: keras.KerasTensor, pooling: str) -> keras.KerasTensor:
    """``"max"``: max over the time steps of a sequence output; ``"last"``: already pooled."""
    return layers.GlobalMaxPooling1D(name="pool")(x) if pooling == "max" else x


def sigmoid_head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    """Optional dropout, then ``sentiment``: P(positive) ``[batch, 1]``."""
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(1, activation="sigmoid", name=OUTPUT_NAME)(x)
