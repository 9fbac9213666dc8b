"""Sentiment builders and custom layers: shapes, a training step, config and .keras round trips."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from stages.common.params import ParamsError
from stages.families.registry import names, spec
from stages.models.keras.fit import compile_model
from stages.models.keras.layers import (
    INPUT_NAME,
    OUTPUT_NAME,
    HashedBigramEmbedding,
    MatmulAttention,
    PositionalEmbedding,
    TransformerEncoder,
    sinusoidal_table,
)
from stages.models.textmodel import KERAS_FILE, StandardizingEncoder, save_text_model
from tests.classifier_fixtures import GLOVE_DIM, VOCAB, tiny_cfg

REPO_ROOT = Path(__file__).resolve().parents[2]


# Every Keras family at its params.yaml choices, plus the variants those do not cover.
VARIANTS = [
    ("lstm", {"pooling": "last", "bigram_buckets": 0}),
    ("transformer", {"position": "sinusoidal", "dropout": 0.1}),
]
# The token-id families (the n-gram families have their own tests).
TOKEN_FAMILIES = [f for f in names("keras_sentiment") if "vectorized" in spec(f).inputs]
CASES = [(family, {}) for family in TOKEN_FAMILIES] + VARIANTS
CASE_IDS = [f"{family}-{'-'.join(map(str, o.values())) or 'params'}" for family, o in CASES]


def build(family: str, **overrides: object) -> keras.Model:
    cfg = tiny_cfg(family, **overrides)
    embeddings = np.random.default_rng(0).normal(size=(len(VOCAB), GLOVE_DIM)).astype("float32")
    return spec(family).builder(cfg, vocab_size=cfg.vocab_size, input_length=cfg.seq_len,
                                embeddings=embeddings)


def tiny_batch(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 40, size=(n, 24)).astype("int32")
    x[:, :5] = 0  # pre-padding
    return x, (np.arange(n) % 2).astype("int32")


@pytest.mark.parametrize(("family", "overrides"), CASES, ids=CASE_IDS)
def test_builder_named_io_and_training_step(family: str, overrides: dict) -> None:
    keras.utils.set_random_seed(0)
    model = build(family, **overrides)
    assert model.input.name == INPUT_NAME
    assert model.get_layer(OUTPUT_NAME).output.shape[-1] == (
        2 if family == "transformer_seed" else 1
    )
    compile_model(model, tiny_cfg(family, **overrides))
    x, y = tiny_batch()
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(loss) and loss > 0
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probs = model.predict(x, verbose=0)
    assert probs.shape == (16, 2 if family == "transformer_seed" else 1)
    assert np.all((probs >= 0) & (probs <= 1))


def test_transformer_seed_matches_the_seed_architecture() -> None:
    cfg = tiny_cfg(
        "transformer_seed",
        vocab_size=10000,
        seq_len=80,
        embed_dim=32,
        num_heads=3,
        key_dim=32,
        ff_dim=64,
    )
    model = spec("transformer_seed").builder(cfg, vocab_size=10000, input_length=80)
    encoder = model.get_layer("encoder")
    assert (encoder.attention.num_heads, encoder.attention.key_dim) == (3, 32)
    assert encoder.norm == "batch"
    # token 10000x32 + positions 80x32 + MHA(3 heads, key 32) + FFN 32->64->32 + 2 BN + Dense 2
    mha = 3 * (32 * 32 * 3 + 32 * 3) + 3 * 32 * 32 + 32
    expected = 320000 + 2560 + mha + (32 * 64 + 64) + (64 * 32 + 32) + 2 * 4 * 32 + (32 * 2 + 2)
    assert model.count_params() == expected


def test_glove_bilstm_starts_from_the_glove_rows() -> None:
    cfg = tiny_cfg("glove_bilstm")
    matrix = np.arange(len(VOCAB) * GLOVE_DIM, dtype="float32").reshape(len(VOCAB), GLOVE_DIM)
    model = spec("glove_bilstm").builder(cfg, vocab_size=30, input_length=cfg.seq_len,
                                         embeddings=matrix)
    np.testing.assert_array_equal(model.get_layer("glove").get_weights()[0], matrix[:30])


def test_glove_bilstm_without_enough_rows_raises() -> None:
    with pytest.raises(
        ValueError, match=r"glove_bilstm needs a \[>= 40, dim\] matrix, got \(3, 8\)"
    ):
        spec("glove_bilstm").builder(
            tiny_cfg("glove_bilstm"), vocab_size=40, input_length=8, embeddings=np.zeros((3, 8))
        )


@pytest.mark.parametrize(
    "layer",
    [
        PositionalEmbedding(12, 30, 8, position="learned", mask_zero=True, name="pe"),
        PositionalEmbedding(12, 30, 8, position="sinusoidal"),
        PositionalEmbedding(12, 30, 8, position="none"),
        TransformerEncoder(8, 2, 16, key_dim=4, norm="batch", dropout=0.1, name="enc"),
        TransformerEncoder(8, 2, 16, dropout=0.3, attention_dropout=0.0),
        TransformerEncoder(8, 2, 16),
        HashedBigramEmbedding(97, 8, name="bigrams"),
    ],
    ids=["pe-learned", "pe-sinusoidal", "pe-none", "enc-batch", "enc-attention-dropout",
         "enc-layer", "bigrams"],
)
def test_layer_config_round_trip(layer: keras.layers.Layer) -> None:
    config = layer.get_config()
    json.dumps(config)  # JSON primitives only
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_unknown_layer_options_raise() -> None:
    with pytest.raises(ValueError, match="position must be one of"):
        PositionalEmbedding(4, 10, 8, position="rotary")
    with pytest.raises(ValueError, match="norm must be one of"):
        TransformerEncoder(8, 2, 16, norm="group")


def test_sinusoidal_table_values() -> None:
    table = np.asarray(sinusoidal_table(50, 8))
    assert table.shape == (50, 8)
    np.testing.assert_allclose(table[0], [0, 1] * 4, atol=1e-6)
    np.testing.assert_allclose(table[3, 0], np.sin(3.0), rtol=1e-5)
    np.testing.assert_allclose(table[3, 3], np.cos(3.0 / 10000 ** (2 / 8)), rtol=1e-5)


def test_positional_embedding_mask_and_positions() -> None:
    layer = PositionalEmbedding(4, 10, 3, position="learned", mask_zero=True)
    x = np.array([[0, 0, 5, 5]], dtype="int32")
    out = np.asarray(layer(x))
    # same token at two positions differs only by the learned position rows
    pos = layer.position_embedding.get_weights()[0]
    np.testing.assert_allclose(out[0, 3] - out[0, 2], pos[3] - pos[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer.compute_mask(x)), [[False, False, True, True]])


def test_hashed_bigrams_zero_at_padding_and_equal_for_equal_pairs() -> None:
    layer = HashedBigramEmbedding(97, 4)
    out = np.asarray(layer(np.array([[0, 5, 6, 5, 6, 7]], dtype="int32")))
    np.testing.assert_array_equal(out[0, :2], 0.0)  # (pad, pad) and (pad, 5)
    np.testing.assert_array_equal(out[0, 2], out[0, 4])  # (5, 6) twice
    assert not np.array_equal(out[0, 2], out[0, 3])  # (5, 6) vs (6, 5)
    row = (5 * HashedBigramEmbedding.MULTIPLIER + 6) % 97
    np.testing.assert_allclose(out[0, 2], layer.table.get_weights()[0][row])


LOAD_SCRIPT = """
import sys, numpy as np, keras
import stages.models.keras  # registers the custom layers
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    np.save(path + ".npy", keras.models.load_model(path).predict(x, verbose=0))
"""


def test_saved_models_reload_in_a_fresh_process(tmp_path: Path) -> None:
    x, _ = tiny_batch()
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for case, (family, overrides) in zip(CASE_IDS, CASES, strict=True):
        keras.utils.set_random_seed(0)
        model = build(family, **overrides)
        model.save(tmp_path / f"{case}.keras")
        expected[case] = model.predict(x, verbose=0)
    paths = [str(tmp_path / f"{case}.keras") for case in expected]
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "x.npy"), *paths],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for case, path in zip(expected, paths, strict=True):
        np.testing.assert_allclose(np.load(path + ".npy"), expected[case], rtol=1e-5, atol=1e-6)


def saves_optimizer(path: Path) -> bool:
    """Whether the .keras file ``path`` holds optimizer variables."""
    with zipfile.ZipFile(path) as saved:
        weights = io.BytesIO(saved.read("model.weights.h5"))
    with h5py.File(weights) as h5:
        return "optimizer" in h5


@pytest.mark.parametrize("family", ["transformer", "lstm"])
def test_saved_text_model_keeps_weights_but_not_the_optimizer(family: str, tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = build(family)
    compile_model(model, tiny_cfg(family), decay_steps=4)
    x, y = tiny_batch()
    model.fit(x, y, epochs=1, verbose=0)  # creates Adam's slot variables
    save_text_model(tmp_path, StandardizingEncoder(), model)
    model.save(tmp_path / "with_optimizer.keras")
    assert not saves_optimizer(tmp_path / KERAS_FILE)
    assert saves_optimizer(tmp_path / "with_optimizer.keras")
    reloaded = keras.models.load_model(tmp_path / KERAS_FILE, compile=False)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("family", "overrides", "message"),
    [
        ("lstm", {"units": 0}, r"train\.lstm\.units: must be > 0, got 0"),
        ("lstm", {"dropout": 1.0}, r"train\.lstm\.dropout: must be in \[0, 1\), got 1\.0"),
        (
            "transformer",
            {"attention_dropout": -0.1},
            r"train\.transformer\.attention_dropout: must be in \[0, 1\), got -0\.1",
        ),
        ("lstm", {"vocab_size": 2}, r"train\.lstm\.vocab_size: must be >= 3"),
        ("lstm", {"patience": 0}, r"train\.lstm\.patience: must be >= 1 or null, got 0"),
        ("transformer", {"num_heads": 3}, r"train\.transformer\.embed_dim: 8 is not a multiple"),
        (
            "transformer",
            {"bigram_buckets": -1},
            r"train\.transformer\.bigram_buckets: must be >= 0",
        ),
        ("glove_bilstm", {"frozen_epochs": 4}, r"train\.glove_bilstm\.frozen_epochs: must be in"),
        ("tfidf_logreg", {"C": 0.0}, r"train\.tfidf_logreg\.C: must be > 0"),
        (
            "lstm",
            {"optimizer": "sgd"},
            r"train\.lstm\.optimizer: must be one of \['adam', 'rmsprop'\]",
        ),
    ],
)
def test_family_params_out_of_range_name_the_key(
    family: str, overrides: dict, message: str
) -> None:
    with pytest.raises(ParamsError, match=message):
        tiny_cfg(family, **overrides)


def test_attention_dropout_defaults_to_the_residual_dropout() -> None:
    assert TransformerEncoder(8, 2, 16, dropout=0.3).attention.dropout == 0.3
    encoder = TransformerEncoder(8, 2, 16, dropout=0.3, attention_dropout=0.0)
    assert (encoder.attention.dropout, encoder.drop_1.rate, encoder.drop_2.rate) == (0.0, 0.3, 0.3)
    model = build("transformer", dropout=0.2, attention_dropout=0.05)
    encoder = model.get_layer("encoder")
    assert (encoder.attention.dropout, encoder.drop_1.rate) == (0.05, 0.2)


@pytest.mark.parametrize("heads, key_dim, dropout", [(3, 4, 0.0), (1, 8, 0.0), (2, 4, 0.5)])
def test_matmul_attention_equals_keras_multi_head_attention(
    heads: int, key_dim: int, dropout: float
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 8)).astype("float32")
    mask = rng.random((5, 7, 7)) > 0.3
    reference = keras.layers.MultiHeadAttention(heads, key_dim, dropout=dropout)
    ours = MatmulAttention(heads, key_dim, dropout=dropout)
    reference(x, x)
    ours(x, x)
    ours.set_weights(reference.get_weights())
    for kwargs in ({}, {"attention_mask": mask}):
        expected, expected_scores = reference(x, x, return_attention_scores=True, **kwargs)
        got, scores = ours(x, x, return_attention_scores=True, **kwargs)
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    if dropout:  # in training, dropout zeroes some attention weights: the output changes
        keras.utils.set_random_seed(1)
        dropped = ours(x, x, training=True)
        assert not np.allclose(dropped, ours(x, x))
