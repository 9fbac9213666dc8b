"""The nbsvm family: params, NB ratios, n-gram ids, builder shapes, .keras reload, learnability."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
import scipy.sparse as sp

from stages.common.params import ParamsError, from_dict
from stages.families import nbsvm
from stages.families.nbsvm import INPUT_NAME, NgramFeatures, nb_ratios
from stages.families.nbsvm import Params as NbsvmParams
from stages.families.nbsvm import build as build_nbsvm
from stages.models.keras.layers import OUTPUT_NAME, NbLogit

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = dict(
    seed=0,
    ngram_max=2,
    min_df=1,
    alpha=1.0,
    max_len=64,
    epochs=3,
    batch_size=16,
    learning_rate=0.01,
    optimizer="adam",
    lr_schedule="constant",
    patience=None,
    train_on_val=False,
    refit=False,
    strategy="default",
    batching="padded",
)
TRAIN_TEXTS = ["a great film", "great acting great fun", "a bad film", "bad plot and bad acting"]
TRAIN_LABELS = np.array([1, 1, 0, 0])


def cfg(**overrides: object) -> NbsvmParams:
    return from_dict(NbsvmParams, {**PARAMS, **overrides}, "train.nbsvm")


def synthetic_reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Reviews of neutral filler plus words of their label's sentiment (some of the other's)."""
    rng = np.random.default_rng(seed)
    filler = "the movie film plot actor scene story it was and of a".split()
    words = {
        1: "great superb wonderful loved brilliant".split(),
        0: "awful boring terrible hated dull".split(),
    }
    labels = rng.integers(0, 2, size=n)
    texts = []
    for y in labels:
        tokens = list(rng.choice(filler, size=12))
        tokens += list(rng.choice(words[int(y)], size=3)) + list(
            rng.choice(words[1 - int(y)], size=1)
        )
        rng.shuffle(tokens)
        texts.append(" ".join(tokens))
    return texts, labels


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"units": 3}, "params: train.nbsvm.units: unknown key"),
        ({"min_df": "2"}, "params: train.nbsvm.min_df: must be an integer, got '2'"),
        ({"alpha": 0.0}, "params: train.nbsvm.alpha: must be > 0, got 0.0"),
        ({"refit": True}, "params: train.nbsvm.refit: needs early stopping on the val split"),
    ],
)
def test_params_reject_extra_keys_wrong_types_and_ranges(overrides: dict, message: str) -> None:
    with pytest.raises(ParamsError) as err:
        cfg(**overrides)
    assert str(err.value).startswith(message)


def test_params_are_frozen() -> None:
    assert cfg().ngram_max == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg().seed = 1  # type: ignore[misc]


def test_nb_ratios_match_hand_computed_values() -> None:
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    r = nb_ratios(x, np.array([1, 1, 0]), alpha=1.0)
    # p = [3, 2, 1] / 6, q = [1, 1, 2] / 4
    expected = np.log(np.array([3, 2, 1]) / 6) - np.log(np.array([1, 1, 2]) / 4)
    np.testing.assert_allclose(r, expected, rtol=1e-6)
    assert r.dtype == np.float32


def fitted_ratios(splits: dict[str, tuple[list[str], np.ndarray]]) -> np.ndarray:
    """The ratios as a stage computes them from its splits: the train split's."""
    return NgramFeatures.from_params(cfg()).fit(*splits["train"]).ratios


def test_ratios_depend_on_train_labels_only() -> None:
    splits = {s: synthetic_reviews(60, seed) for seed, s in enumerate(["train", "val", "test"])}
    ratios = fitted_ratios(splits)
    relabelled = {s: (t, 1 - y if s != "train" else y) for s, (t, y) in splits.items()}
    np.testing.assert_array_equal(fitted_ratios(relabelled), ratios)
    flipped = {s: (t, 1 - y if s == "train" else y) for s, (t, y) in splits.items()}
    np.testing.assert_allclose(fitted_ratios(flipped), -ratios, rtol=1e-5, atol=1e-6)


def test_transform_pads_with_zero_and_uses_one_based_ids() -> None:
    features = NgramFeatures.from_params(cfg(ngram_max=1)).fit(TRAIN_TEXTS, TRAIN_LABELS)
    vocab = features.index.vocabulary()
    ids = features.transform(["great great film", "unseen words only", "bad"])
    assert ids.dtype == np.int32
    assert ids.shape == (3, 64)  # max_len
    assert ids[0, :3].tolist() == [vocab["great"] + 1, vocab["film"] + 1, 0]  # decreasing |r|
    assert not ids[1].any()
    assert ids[2, :2].tolist() == [vocab["bad"] + 1, 0]
    assert features.vocab_size == len(vocab) == 8


def test_transform_truncation_keeps_the_largest_ratios() -> None:
    features = NgramFeatures.from_params(cfg(ngram_max=1, max_len=2)).fit(
        TRAIN_TEXTS, TRAIN_LABELS
    )
    vocab = features.index.vocabulary()
    ids = features.transform(["a great bad film plot"])
    # |r|: bad = great (twice in one class) > plot (once) > a = film (once in each class: 0).
    assert sorted(ids[0].tolist()) == sorted([vocab["bad"] + 1, vocab["great"] + 1])


def test_transform_is_the_same_in_chunks_and_in_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = synthetic_reviews(30, 0)
    features = NgramFeatures.from_params(cfg(max_len=20)).fit(texts, labels)
    # The first chunk has only short reviews, the others have reviews truncated to max_len.
    texts = ["great film and a fun plot"] * 7 + texts
    whole = features.transform(texts)
    monkeypatch.setattr(nbsvm, "CHUNK", 7)
    np.testing.assert_array_equal(features.transform(texts), whole)
    np.testing.assert_array_equal(features.transform(texts, n_jobs=2), whole)
    assert whole.shape == (37, 20)


def test_features_survive_joblib(tmp_path: Path) -> None:
    features = NgramFeatures.from_params(cfg()).fit(TRAIN_TEXTS, TRAIN_LABELS)
    joblib.dump(features, tmp_path / "features.joblib")
    loaded = joblib.load(tmp_path / "features.joblib")
    np.testing.assert_array_equal(loaded.ratios, features.ratios)
    np.testing.assert_array_equal(loaded.transform(TRAIN_TEXTS), features.transform(TRAIN_TEXTS))


def test_unfitted_features_raise() -> None:
    with pytest.raises(RuntimeError, match="NgramFeatures is not fitted"):
        _ = NgramFeatures.from_params(cfg()).vocab_size


def test_builder_named_io_shapes_and_fixed_ratios() -> None:
    ratios = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    model = build_nbsvm(cfg(), ratios=ratios, input_length=None)
    assert model.input.name == INPUT_NAME
    out = model.predict(np.array([[1, 2, 0, 0], [3, 0, 0, 0]], np.int32), verbose=0)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out, 0.5)  # w starts at 0: no evidence either way
    nb = model.get_layer("nb_logit")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(nb.r), [0.0, 0.5, -1.0, 2.0])
    assert [w.name for w in nb.trainable_weights] == ["w", "b"]
    assert model.get_layer(OUTPUT_NAME).output.shape == (None, 1)
    assert NbLogit.from_config(nb.get_config()).vocab_size == 3


def test_logit_is_the_sum_of_ratio_times_weight() -> None:
    ratios = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    model = build_nbsvm(cfg(), ratios=ratios, input_length=None)
    nb = model.get_layer("nb_logit")
    nb.w.assign(np.array([9.0, 1.0, 2.0, 3.0], np.float32))
    nb.b.assign(np.array([0.25], np.float32))
    logit = nb(np.array([[1, 3, 0]], np.int32))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logit), [[0.25 + 0.5 + 6.0]])


LOAD_SCRIPT = """
import sys
import keras
import numpy as np
import stages.models.keras  # registers NbLogit
model = keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[2], model.predict(np.load(sys.argv[3]), verbose=0))
"""


def trained_on_fixture() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A model trained 2 epochs on the fixture reviews, their n-gram ids and its outputs."""
    keras.utils.set_random_seed(0)
    features = NgramFeatures.from_params(cfg()).fit(TRAIN_TEXTS, TRAIN_LABELS)
    x = features.transform(TRAIN_TEXTS)
    model = build_nbsvm(cfg(), ratios=features.ratios, input_length=None)
    model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy")
    model.fit(x, TRAIN_LABELS.astype("float32"), epochs=2, verbose=0)
    expected = model.predict(x, verbose=0)
    assert np.ptp(expected) > 0.1  # trained, so comparisons are of non-trivial outputs
    return model, x, expected


def test_keras_reload_in_a_fresh_process(tmp_path: Path) -> None:
    model, x, expected = trained_on_fixture()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / "model.keras")]
        + [str(tmp_path / "out.npy"), str(tmp_path / "x.npy")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-6)


def test_learns_synthetic_sentiment_well_above_chance() -> None:
    keras.utils.set_random_seed(0)
    (train, y_train), (test, y_test) = synthetic_reviews(200, 0), synthetic_reviews(100, 1)
    features = NgramFeatures.from_params(cfg())
    x_train = features.fit_transform(train, y_train)
    model = build_nbsvm(cfg(), ratios=features.ratios, input_length=None)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    model.fit(x_train, y_train.astype("float32"), batch_size=16, epochs=3, verbose=0)
    pred = model.predict(features.transform(test), verbose=0).ravel() > 0.5
    assert np.mean(pred == y_test) >= 0.8  # chance is ~0.5; measured 0.88


def test_export_scores_as_the_trained_keras_model() -> None:
    model, x, expected = trained_on_fixture()
    scores = nbsvm.export(model).predict_proba(x)
    assert scores.shape == (len(x), 2) and scores.dtype == np.float64
    np.testing.assert_allclose(scores[:, 1], expected[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
