"""The Keras fit loop's promises (``stages/models/keras/fit.py``), on scripted validation scores.

A callback replaces each epoch's ``val_accuracy`` with a scripted value before ``KeepBest`` reads
it, and snapshots the weights the epoch ended with, so the tests know which epoch is best, when
patience runs out, and what the kept weights must be, without depending on what a real model
happens to score.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest

from stages.families import registry
from stages.models.keras import fit
from stages.tracking import keras_log
from tests.classifier_fixtures import SIZES, tiny_cfg, write_prepared


class Scripted(keras.callbacks.Callback):
    """Sets ``logs["val_accuracy"]`` to ``script[epoch]`` (with ``validating_only``, only in an
    epoch that validates), and keeps the weights at each epoch end (``flat[epoch]``, and
    ``snapshots[epoch]``: layer name -> arrays)."""

    def __init__(self, script: list[float], *, validating_only: bool = False) -> None:
        super().__init__()
        self.script = script
        self.validating_only = validating_only
        self.snapshots: dict[int, dict[str, list[np.ndarray]]] = {}
        self.flat: dict[int, list[np.ndarray]] = {}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        assert logs is not None
        if "val_accuracy" in logs or not self.validating_only:
            logs["val_accuracy"] = self.script[epoch]
        self.snapshots[epoch] = {layer.name: layer.get_weights() for layer in self.model.layers}
        self.flat[epoch] = self.model.get_weights()


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def tiny_dense() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return model, x, (x[:, 0] > 0).astype("float32")


# val_accuracy by epoch; a tie (epoch 3) is no improvement.
SCRIPT = [0.50, 0.70, 0.60, 0.70, 0.65, 0.90]


@pytest.mark.parametrize(
    ("patience", "stop_epoch", "best_epoch"),
    [(1, 2, 1), (2, 3, 1), (3, 4, 1), (None, 5, 5)],
)
def test_keep_best_stops_after_patience_and_keeps_the_best_epoch(
    patience: int | None, stop_epoch: int, best_epoch: int
) -> None:
    model, x, y = tiny_dense()
    script, keep = Scripted(SCRIPT), fit.KeepBest(patience)
    history = model.fit(x, y, epochs=len(SCRIPT), callbacks=[script, keep], verbose=0)
    assert history.epoch == list(range(stop_epoch + 1))
    assert keep.stopped is (patience is not None)
    assert (keep.best, keep.best_epoch) == (SCRIPT[best_epoch], best_epoch)
    assert same(keep.best_weights, script.flat[best_epoch])
    # The weights moved every epoch, so keeping epoch best_epoch's is a real choice.
    later = [e for e in script.flat if e != best_epoch]
    assert later and not any(same(keep.best_weights, script.flat[e]) for e in later)


def test_keep_best_counts_patience_across_fits() -> None:
    """A frozen warm-up and fine-tuning are two fits sharing one best epoch and one patience."""
    model, x, y = tiny_dense()
    script = Scripted([0.50, 0.80, 0.70, 0.75, 0.60, 0.90])
    keep = fit.KeepBest(3)
    model.fit(x, y, epochs=3, callbacks=[script, keep], verbose=0)
    assert (keep.best_epoch, keep.wait, keep.stopped) == (1, 1, False)
    history = model.fit(x, y, initial_epoch=3, epochs=6, callbacks=[script, keep], verbose=0)
    assert history.epoch == [3, 4]  # waits 2 and 3 (Keras' EarlyStopping would restart at 0)
    assert keep.stopped and (keep.best, keep.best_epoch) == (0.80, 1)
    assert same(keep.best_weights, script.flat[1])


def test_keep_best_needs_val_accuracy() -> None:
    keep = fit.KeepBest(1)
    with pytest.raises(KeyError, match="val_accuracy"):
        keep.on_epoch_end(0, {"accuracy": 0.9})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"))


# val_accuracy by epoch of the fit loop's first fit: best epoch 1, patience 2 ends it after 3.
VALUES = [0.60, 0.80, 0.70, 0.75, 0.90, 0.95]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> list[Scripted]:
    """Every ``EpochTimer`` the fit loop makes also scripts ``val_accuracy`` and snapshots
    weights (it runs before ``KeepBest``) with ``VALUES``; MLflow's per-epoch logging is a
    no-op. Returns the instances, one per ``fit_neural`` call."""
    made: list[Scripted] = []
    timer = fit.EpochTimer

    class ScriptedTimer(timer, Scripted):
        def __init__(self) -> None:
            Scripted.__init__(self, list(VALUES), validating_only=True)
            made.append(self)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            timer.on_epoch_end(self, epoch, logs)
            Scripted.on_epoch_end(self, epoch, logs)

    monkeypatch.setattr(fit, "EpochTimer", ScriptedTimer)
    monkeypatch.setattr(keras_log, "epoch_metrics_callback", keras.callbacks.Callback)
    return made


def test_fit_neural_keeps_the_best_epoch_across_the_frozen_warm_up(
    prepared: Path, scripted: list[Scripted]
) -> None:
    """glove_bilstm, 2 frozen epochs then fine-tuning, patience 2: best epoch 1 (frozen), stop
    after epoch 3; the weights kept are epoch 1's, GloVe rows included."""
    spec = registry.spec("glove_bilstm")
    cfg = tiny_cfg("glove_bilstm", epochs=6, frozen_epochs=2, patience=2)
    features = spec.features(cfg, {"vectorized": prepared / "vectorized",
                                   "embeddings": prepared / "embeddings.npy"})
    glove = np.load(prepared / "embeddings.npy")[: features.build_kwargs["vocab_size"]]
    keras.utils.set_random_seed(cfg.seed)
    x_train = features.data["train"][0]
    kwargs = {**features.build_kwargs, "input_length": fit.input_length(cfg, x_train)}
    model = spec.builder(cfg, **kwargs)
    start = {layer.name: layer.get_weights() for layer in model.layers}
    frame, keep, _ = fit.fit_neural(model, cfg, features.data, spec.frozen_layer)

    (script,) = scripted
    assert list(frame["epoch"]) == [0, 1, 2, 3]
    assert list(frame["val_accuracy"]) == VALUES[:4]
    assert (keep.best_epoch, keep.best, keep.stopped) == (1, 0.80, True)
    snaps = script.snapshots
    for epoch in (0, 1):  # frozen: GloVe exactly as loaded, the rest trains
        assert np.array_equal(snaps[epoch][spec.frozen_layer][0], glove)
        assert not same(snaps[epoch]["bilstm"], start["bilstm"])
    for epoch in (2, 3):  # fine-tuning moves it
        assert not np.array_equal(snaps[epoch][spec.frozen_layer][0], glove)
    final = {layer.name: layer.get_weights() for layer in model.layers}
    assert all(same(final[name], snaps[1][name]) for name in final)  # restored to epoch 1
    assert np.array_equal(final[spec.frozen_layer][0], glove)


def test_nbsvm_refits_on_train_and_val_for_the_best_epoch_count(
    prepared: Path, scripted: list[Scripted], monkeypatch: pytest.MonkeyPatch
) -> None:
    """First fit: early stopping on val (best epoch 1, stop after epoch 3); then a new model on
    train + val rows for 2 epochs, no validation, final weights kept, and that model scored."""
    calls: list[dict] = []
    fit_neural, train_dataset = fit.fit_neural, fit.train_dataset

    def spy_fit_neural(model, cfg, data, frozen_layer=None):
        calls.append({"model": model, "cfg": cfg, "datasets": []})
        frame, keep, seconds = fit_neural(model, cfg, data, frozen_layer)
        calls[-1].update(frame=frame, keep=keep, weights=model.get_weights())
        return frame, keep, seconds

    def spy_train_dataset(cfg, x, y):
        ds = train_dataset(cfg, x, y)
        calls[-1]["datasets"].append(ds)
        return ds

    monkeypatch.setattr(fit, "fit_neural", spy_fit_neural)
    monkeypatch.setattr(fit, "train_dataset", spy_train_dataset)
    spec = registry.spec("nbsvm")
    cfg = tiny_cfg("nbsvm", epochs=6, patience=2)
    assert cfg.refit and not cfg.train_on_val
    features = spec.features(cfg, {"imdb": prepared / "imdb"})
    result = fit.train(spec, cfg, features)

    first, refit = calls
    assert (first["cfg"].epochs, first["cfg"].patience, first["cfg"].train_on_val) == (6, 2, False)
    assert list(first["frame"]["epoch"]) == [0, 1, 2, 3]
    assert first["keep"].best_epoch == 1 and first["keep"].stopped
    assert same(first["weights"], scripted[0].flat[1])  # the first model keeps epoch 1's
    assert (refit["cfg"].epochs, refit["cfg"].patience) == (2, None)
    assert refit["cfg"].train_on_val and not refit["cfg"].refit
    assert list(refit["frame"]["epoch"]) == [0, 1]
    assert not any(c.startswith("val_") for c in refit["frame"].columns)  # validates on nothing
    assert same(refit["weights"], scripted[1].flat[1])  # the final weights, not restored

    def rows(ds) -> Counter:
        """The (ids, label) rows one epoch of ``ds`` feeds the model (padding dropped)."""
        return Counter((tuple(int(i) for i in ids if i), int(label))
                       for x, y in ds for ids, label in zip(x.numpy(), y.numpy(), strict=True))

    def split_rows(*splits: str) -> Counter:
        return Counter((tuple(int(i) for i in ids if i), int(label)) for split in splits
                       for ids, label in zip(*features.data[split], strict=True))

    (first_ds,), (refit_ds,) = first["datasets"], refit["datasets"]
    assert sum(rows(first_ds).values()) == SIZES["train"]
    assert rows(first_ds) == split_rows("train")
    assert sum(rows(refit_ds).values()) == SIZES["train"] + SIZES["val"]
    assert rows(refit_ds) == split_rows("train", "val")

    assert result.facts["epochs_run"] == 4.0
    assert result.facts["best_epoch"] == 1.0
    assert result.facts["refit_epochs"] == 2.0 == first["keep"].best_epoch + 1
    assert result.facts["best_val_accuracy"] == 0.80  # the first fit's, on val
    # What is scored (and saved) is the refitted model.
    x_test = features.data["test"][0]
    assert np.array_equal(result.p_test, fit.predict_keras(refit["model"], x_test))
    assert not np.array_equal(result.p_test, fit.predict_keras(first["model"], x_test))
    saved = result.model.predict_proba(x_test)[:, 1]
    np.testing.assert_allclose(saved, result.p_test, atol=1e-6)
