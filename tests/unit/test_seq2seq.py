"""Translator builders, inference models and greedy decoding on a tiny vocabulary."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from stages.data.charvocab import CharVocab
from stages.families.registry import spec, translator_families
from stages.families.seq2seq import (
    Params as TranslatorParams,
)
from stages.families.seq2seq import (
    compile_model,
    greedy_decode,
    inference_models,
)
from tests.translate_fixtures import PAIRS

TRANSLATORS = translator_families()


@pytest.fixture(scope="module")
def vocab() -> CharVocab:
    english, korean = zip(*PAIRS, strict=True)
    return CharVocab.from_pairs(english, korean)


def _cfg(epochs: int = 1) -> TranslatorParams:
    return TranslatorParams(
        seed=0, embedding_dim=16, units=32, epochs=epochs, batch_size=4, learning_rate=0.05
    )


def _arrays(vocab: CharVocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    english, korean = zip(*PAIRS, strict=True)
    return (vocab.encode_english(english), *vocab.encode_korean(korean))


@pytest.mark.parametrize("family", TRANSLATORS)
def test_builder_names_layers_and_predicts_every_step(family: str, vocab: CharVocab) -> None:
    model = spec(family).builder(_cfg(), vocab_size=vocab.size)
    names = {layer.name for layer in model.layers}
    assert {"encoder_tokens", "decoder_tokens", "encoder_lstm", "decoder_lstm", "output"} <= names
    assert ("attention" in names) == (family == "seq2seq_attention")
    enc, dec_in, _ = _arrays(vocab)
    probs = np.asarray(model({"encoder_tokens": enc, "decoder_tokens": dec_in}))
    assert probs.shape == (len(PAIRS), vocab.decoder_length, vocab.size)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("family", TRANSLATORS)
def test_step_models_match_training_model_under_teacher_forcing(
    family: str, vocab: CharVocab
) -> None:
    keras.utils.set_random_seed(1)
    model = spec(family).builder(_cfg(), vocab_size=vocab.size)
    enc, dec_in, _ = _arrays(vocab)  # rows of 2 and 3 letters: padded encoder positions
    expected = np.asarray(model({"encoder_tokens": enc, "decoder_tokens": dec_in}))
    encoder, step = inference_models(model)
    outputs = [np.asarray(t) for t in encoder(enc)]
    memory, states = outputs[:-2], outputs[-2:]
    if memory:
        memory.append(enc != 0)
    steps = []
    for t in range(dec_in.shape[1]):
        probs, *states = [np.asarray(o) for o in step([dec_in[:, t : t + 1], *states, *memory])]
        states = states[:2]
        steps.append(probs[:, 0])
    np.testing.assert_allclose(np.stack(steps, axis=1), expected, atol=1e-6)


@pytest.mark.parametrize("family", TRANSLATORS)
def test_greedy_decoding_memorizes_tiny_vocabulary(
    family: str, vocab: CharVocab, tmp_path: Path
) -> None:
    keras.utils.set_random_seed(0)
    cfg = _cfg(epochs=40)
    model = spec(family).builder(cfg, vocab_size=vocab.size)
    compile_model(model, cfg)
    enc, dec_in, dec_out = _arrays(vocab)
    model.fit(
        {"encoder_tokens": enc, "decoder_tokens": dec_in},
        dec_out,
        sample_weight=(dec_out != 0).astype("float32"),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        verbose=0,
    )
    ids, weights = greedy_decode(*inference_models(model), enc, max_len=vocab.decoder_length)
    assert [vocab.decode(row) for row in ids] == [ko for _, ko in PAIRS]
    # Nothing is emitted after the end token ("다" + end, then padding).
    np.testing.assert_array_equal(ids[2], [vocab.index["다"], 2, 0, 0])
    if family == "seq2seq_attention":
        assert weights.shape == (len(PAIRS), vocab.decoder_length, enc.shape[1])
        np.testing.assert_allclose(weights[:, 0].sum(axis=-1), 1.0, rtol=1e-5)
        assert (weights[0, :, 2] == 0).all()  # "ab" is padded: no weight on position 3
    else:
        assert weights is None
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    again, _ = greedy_decode(*inference_models(reloaded), enc, max_len=vocab.decoder_length)
    np.testing.assert_array_equal(again, ids)
