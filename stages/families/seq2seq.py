"""The ``seq2seq`` translator family: a char-level EN->KO encoder-decoder, its inference models
and greedy decoding, which ``seq2seq_attention`` shares.

The training model reads ``encoder_tokens`` (English ids, 0-padded) and ``decoder_tokens``
(start + Korean ids) and predicts the next Korean id at every step (teacher forcing).
Translation is done by ``greedy_decode`` with models rebuilt from the trained layers by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from stages.common.config import Int, PosFloat, PosInt, model
from stages.data.charvocab import END, PAD, START
from stages.families.registry import Reference

if TYPE_CHECKING:
    import keras

KIND = "translator"
INPUTS = ("translate",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="course slides, char seq2seq LSTM 128, 500 epochs, greedy decoding",
    anchor="110/110 exact",
    accuracy=1.0,
)

ENCODER_TOKENS = "encoder_tokens"
DECODER_TOKENS = "decoder_tokens"


@model
class Params:
    """A char-level EN->KO translator family (``translate.<family>``)."""

    seed: Int
    embedding_dim: PosInt
    units: PosInt
    epochs: PosInt
    batch_size: PosInt
    learning_rate: PosFloat


def build_encoder_decoder(cfg: Params, vocab_size: int, *, attention: bool) -> keras.Model:
    """The training model, with dot-product attention over the encoder outputs or without."""
    import keras
    from keras import layers

    enc_tokens = keras.Input((None,), dtype="int32", name=ENCODER_TOKENS)
    dec_tokens = keras.Input((None,), dtype="int32", name=DECODER_TOKENS)
    # mask_zero: padded English positions are skipped by the encoder LSTM and the attention.
    enc = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name="encoder_embedding")
    enc_seq, state_h, state_c = layers.LSTM(
        cfg.units, return_sequences=attention, return_state=True, name="encoder_lstm"
    )(enc(enc_tokens))
    dec = layers.Embedding(vocab_size, cfg.embedding_dim, name="decoder_embedding")(dec_tokens)
    dec_seq, _, _ = layers.LSTM(
        cfg.units, return_sequences=True, return_state=True, name="decoder_lstm"
    )(dec, initial_state=[state_h, state_c])
    if attention:
        # The scores are unused here, but Keras 3.15 cannot reuse the layer with
        # return_attention_scores=True (inference_models) unless its first call had it too.
        context, _ = layers.Attention(name="attention")(
            [dec_seq, enc_seq], return_attention_scores=True
        )
        dec_seq = layers.Concatenate(name="concat")([dec_seq, context])
    probs = layers.Dense(vocab_size, activation="softmax", name="output")(dec_seq)
    name = "seq2seq_attention" if attention else "seq2seq"
    return keras.Model({ENCODER_TOKENS: enc_tokens, DECODER_TOKENS: dec_tokens}, probs, name=name)


def build(cfg: Params, *, vocab_size: int) -> keras.Model:
    """Encoder LSTM states initialise a decoder LSTM; Dense softmax over the vocabulary."""
    return build_encoder_decoder(cfg, vocab_size, attention=False)


def compile_model(model: keras.Model, cfg: Params) -> keras.Model:
    """Adam + sparse cross-entropy; pass ``sample_weight`` to ``fit`` to exclude padding."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    return model


def has_attention(model: keras.Model) -> bool:
    return any(layer.name == "attention" for layer in model.layers)


def inference_models(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Encoder and one-step decoder sharing the trained layers (looked up by name).

    Encoder: tokens -> [encoder_outputs (attention only), state_h, state_c].
    Decoder step: [token (n, 1), state_h, state_c, (encoder_outputs, encoder_mask)] ->
    [probs (n, 1, vocab), state_h, state_c, (attention scores (n, 1, encoder_len))].
    """
    import keras

    attention = has_attention(model)
    enc_seq, state_h, state_c = model.get_layer("encoder_lstm").output
    enc_outputs = [enc_seq, state_h, state_c] if attention else [state_h, state_c]
    encoder = keras.Model(model.get_layer(ENCODER_TOKENS).output, enc_outputs, name="encoder")

    units = model.get_layer("decoder_lstm").units
    token = keras.Input((1,), dtype="int32", name="token")
    h_in = keras.Input((units,), name="state_h")
    c_in = keras.Input((units,), name="state_c")
    x = model.get_layer("decoder_embedding")(token)
    x, h_out, c_out = model.get_layer("decoder_lstm")(x, initial_state=[h_in, c_in])
    inputs, extra = [token, h_in, c_in], []
    if attention:
        memory = keras.Input((None, units), name="encoder_outputs")
        mask = keras.Input((None,), dtype="bool", name="encoder_mask")
        context, scores = model.get_layer("attention")(
            [x, memory], mask=[None, mask], return_attention_scores=True
        )
        x = model.get_layer("concat")([x, context])
        inputs, extra = [*inputs, memory, mask], [scores]
    probs = model.get_layer("output")(x)
    step = keras.Model(inputs, [probs, h_out, c_out, *extra], name="decoder_step")
    return encoder, step


def greedy_decode(
    encoder: keras.Model, step: keras.Model, enc_tokens: np.ndarray, *, max_len: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Translate a batch: start token, then feed back the argmax until end token or ``max_len``.

    Returns:
        ids int32 [n, max_len] (positions after the first end token are 0) and, for attention
        models, the attention weights float32 [n, max_len, encoder_len] (else None).
    """
    n = len(enc_tokens)
    enc_out = [np.asarray(t) for t in encoder(enc_tokens, training=False)]
    memory = enc_out[:-2]
    states = enc_out[-2:]
    if memory:
        memory.append(enc_tokens != PAD)
    token = np.full((n, 1), START, dtype=np.int32)
    ids = np.zeros((n, max_len), dtype=np.int32)
    weights = np.zeros((n, max_len, enc_tokens.shape[1]), dtype=np.float32)
    done = np.zeros(n, dtype=bool)
    for t in range(max_len):
        out = [np.asarray(o) for o in step([token, *states, *memory], training=False)]
        token = out[0][:, -1].argmax(axis=-1).astype(np.int32)[:, None]
        ids[:, t] = np.where(done, PAD, token[:, 0])
        if memory:
            weights[:, t] = out[3][:, 0]
        states = out[1:3]
        done |= token[:, 0] == END
        if done.all():
            break
    return ids, (weights if memory else None)
