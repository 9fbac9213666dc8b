"""The Keras fit loop of the sentiment families (kind ``keras_sentiment``).

Seeded, op-deterministic training on shuffled in-memory batches; early stopping on the
validation split keeps the best epoch's weights; ``train_on_val`` (the seed's protocol) trains on
train + val and keeps the final weights. The test split is scored once, after training.
What is family-specific (builder, frozen pretrained layer) comes from the family's spec.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from stages.common.constants import PREDICT_BATCH
from stages.common.params import KerasFitParams
from stages.models.features import Features, Trained
from stages.models.textmodel import KerasScorer
from stages.tracking import keras_log

log = logging.getLogger(__name__)

MONITOR = "val_accuracy"
SORT_CHUNK = 20  # batches sorted by length together (``batching: length``)
WIDTH_STEP = 8  # a length-sorted batch is cut to a multiple of this many ids


def make_optimizer(
    cfg: KerasFitParams, *, decay_steps: int | None = None
) -> keras.optimizers.Optimizer:
    """The optimizer named by ``cfg.optimizer`` at ``cfg.learning_rate``.

    With ``lr_schedule: cosine`` the rate decays to 0 over ``decay_steps`` optimizer steps.
    """
    classes: dict[str, Any] = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    rate: Any = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        if not decay_steps:
            raise ValueError("lr_schedule cosine needs the number of decay steps")
        rate = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps)
    return classes[cfg.optimizer](learning_rate=rate)


def compile_model(
    model: keras.Model, cfg: KerasFitParams, *, decay_steps: int | None = None
) -> keras.Model:
    """Compile with the family's optimizer; sparse CE for a softmax head, BCE for a sigmoid."""
    softmax = model.output_shape[-1] > 1
    model.compile(
        optimizer=make_optimizer(cfg, decay_steps=decay_steps),
        loss="sparse_categorical_crossentropy" if softmax else "binary_crossentropy",
        metrics=["accuracy"],
        # Keras disables XLA under op determinism (enabled for every run) anyway.
        jit_compile=False,
    )
    return model


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: TF's no-op strategy; ``mirrored``: one replica per local GPU, or per logical
    CPU device when there is no GPU (``batch_size`` stays the global batch, split across them)."""
    if name == "default":
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def make_dataset(x: Any, y: np.ndarray, *, batch_size: int, seed: int | None = None) -> Any:
    """Batches of ``(x, y)``: shuffled index batches gathered from in-memory tensors.

    Only the indices go through the shuffle buffer, so refilling it at an epoch start is
    instant; no parallel map, and a fixed one-batch prefetch instead of AUTOTUNE.
    """
    x_t, y_t = tf.constant(x), tf.constant(y)
    ds = tf.data.Dataset.range(len(y))
    if seed is not None:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda idx: (tf.gather(x_t, idx), tf.gather(y_t, idx)))
    return ds.prefetch(1)


def make_length_dataset(
    x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, padding: str
) -> Any:
    """Shuffled batches of similar-length rows, each cut to its longest row's ids.

    Every epoch the shuffled rows are taken ``SORT_CHUNK`` batches at a time, sorted by length
    within that chunk, batched, and the batches shuffled: each batch is random but its rows are
    about as long, so an LSTM or attention layer runs over a batch's ids rather than over its
    padding. The cut (to a multiple of ``WIDTH_STEP`` columns, bounding the traced shapes)
    removes the zeros on the ``padding`` side of the ``[n, seq_len]`` id matrix ``x``.
    """
    seq_len = x.shape[1]
    x_t, y_t = tf.constant(x), tf.constant(y)
    lengths = tf.constant(np.count_nonzero(x, axis=1).astype(np.int32))

    def sorted_batches(idx: Any) -> Any:
        by_length = tf.gather(idx, tf.argsort(tf.gather(lengths, idx), stable=True))
        return tf.data.Dataset.from_tensor_slices(by_length).batch(batch_size)

    def gather_cut(idx: Any) -> tuple[Any, Any]:
        longest = tf.reduce_max(tf.gather(lengths, idx))
        width = tf.minimum(seq_len, tf.maximum(1, -(-longest // WIDTH_STEP)) * WIDTH_STEP)
        rows = tf.gather(x_t, idx)
        rows = rows[:, seq_len - width :] if padding == "pre" else rows[:, :width]
        return rows, tf.gather(y_t, idx)

    ds = tf.data.Dataset.range(len(y)).shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(SORT_CHUNK * batch_size).flat_map(sorted_batches)
    ds = ds.shuffle(SORT_CHUNK, seed=seed + 1, reshuffle_each_iteration=True).map(gather_cut)
    # flat_map hides the batch count that Keras' progress and a cosine schedule need
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-len(y) // batch_size)))
    return ds.prefetch(1)


def input_length(cfg: Any, x: np.ndarray) -> int | None:
    """The length of the model's input: the padded rows' (``x``), or any length (None) for a
    family trained on length-cut batches."""
    return None if cfg.batching == "length" else x.shape[1]


def train_dataset(cfg: Any, x: Any, y: np.ndarray) -> Any:
    """The training batches ``cfg.batching`` asks for; n-gram id rows are padded at the end."""
    if cfg.batching == "padded":
        return make_dataset(x, y, batch_size=cfg.batch_size, seed=cfg.seed)
    return make_length_dataset(
        x, y, batch_size=cfg.batch_size, seed=cfg.seed, padding=getattr(cfg, "padding", "post")
    )


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_seconds`` (training + validation wall time) to each epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


class KeepBest(keras.callbacks.Callback):
    """Early stopping on ``val_accuracy`` that keeps the best weights across several ``fit``s.

    Keras' EarlyStopping resets at every ``fit``; a frozen warm-up followed by fine-tuning is
    two ``fit`` calls that must share one best epoch.
    """

    def __init__(self, patience: int | None) -> None:
        super().__init__()
        self.patience = patience
        self.best = -np.inf
        self.best_epoch = -1
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0
        self.stopped = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = float((logs or {})[MONITOR])
        if value > self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            log.info("early stop after epoch %d (best %s %.4f)", epoch, MONITOR, self.best)
            self.model.stop_training = self.stopped = True


def phases(cfg: Any) -> list[tuple[int, bool]]:
    """``(end_epoch, embedding_trainable)`` per ``fit`` call: a frozen warm-up of the pretrained
    embedding (families with ``frozen_epochs``), then fine-tuning."""
    frozen = getattr(cfg, "frozen_epochs", 0)
    return [(frozen, False), (cfg.epochs, True)] if frozen else [(cfg.epochs, True)]


def fit_datasets(cfg: Any, data: Mapping[str, tuple]) -> tuple[Any, Any]:
    """Training batches and validation batches; ``train_on_val`` trains on both, validates on
    neither (the seed's protocol: all 25,000 training reviews, final weights)."""
    x, y = data["train"]
    if cfg.train_on_val:
        x, y = np.concatenate([x, data["val"][0]]), np.concatenate([y, data["val"][1]])
        return train_dataset(cfg, x, y), None
    train = train_dataset(cfg, x, y)
    return train, make_dataset(*data["val"], batch_size=PREDICT_BATCH)


def fit_verbosity() -> int:
    """Keras ``verbose``: a live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def fit_neural(
    model: keras.Model, cfg: Any, data: Mapping[str, tuple], frozen_layer: str | None = None
) -> tuple[pd.DataFrame, KeepBest, float]:
    """Run the family's ``fit`` phases (``frozen_layer`` trainable only after ``frozen_epochs``);
    keep the best epoch's weights unless patience is null."""
    train, val = fit_datasets(cfg, data)
    keep = KeepBest(cfg.patience)
    callbacks = [EpochTimer(), *([keep] if val else []), keras_log.epoch_metrics_callback()]
    frames, start, epoch = [], time.perf_counter(), 0
    for end, trainable in phases(cfg):
        if frozen_layer is not None:
            model.get_layer(frozen_layer).trainable = trainable
        steps = (end - epoch) * int(train.cardinality())  # a cosine schedule spans the phase
        compile_model(model, cfg, decay_steps=steps)  # (re)compiling applies trainable flags
        history = model.fit(
            train,
            validation_data=val,
            initial_epoch=epoch,
            epochs=end,
            callbacks=callbacks,
            shuffle=False,
            verbose=fit_verbosity(),
        )
        frames.append(pd.DataFrame(history.history, index=history.epoch))
        epoch = end
        if keep.stopped:
            break
    seconds = time.perf_counter() - start
    if cfg.patience is not None:
        model.set_weights(keep.best_weights)
    frame = pd.concat(frames).rename_axis("epoch").reset_index()
    return frame, keep, seconds


def build_model(builder: Any, cfg: Any, build_kwargs: Mapping[str, Any]) -> tuple[Any, Any]:
    """The family's model, built inside its distribution strategy; returns both."""
    strategy = make_strategy(cfg.strategy)
    with strategy.scope():
        return builder(cfg, **build_kwargs), strategy


def refit_params(cfg: Any, epochs: int) -> Any:
    """``cfg`` for retraining on train + val for ``epochs`` epochs, keeping the final weights."""
    return dataclasses.replace(cfg, epochs=epochs, patience=None, train_on_val=True, refit=False)


def train(spec: Any, cfg: Any, features: Features) -> Trained:
    """Build and train a Keras family on ``features``, then score the test split once.

    With ``refit`` the family is trained twice: with early stopping on val (its validation
    score and curves), then from scratch, same seed, on train + val for the best epoch count.
    Facts: parameters, epochs, best epoch, median epoch seconds, replicas. Seeded by
    ``cfg.seed``, with TensorFlow's deterministic ops. The model kept is the family's ``export``
    of the trained one, if it has one.
    """
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    builder, data = spec.builder, features.data
    kwargs = {**features.build_kwargs, "input_length": input_length(cfg, data["train"][0])}
    model, strategy = build_model(builder, cfg, kwargs)
    replicas = strategy.num_replicas_in_sync
    log.info("strategy %s, num_replicas_in_sync %d", cfg.strategy, replicas)
    with strategy.scope():  # variables, optimizer and every (re)compile belong to the strategy
        history, keep, seconds = fit_neural(model, cfg, data, spec.frozen_layer)
    if cfg.refit:
        final = refit_params(cfg, keep.best_epoch + 1)
        log.info("refit on train + val for %d epochs, the best on val", final.epochs)
        keras.utils.set_random_seed(cfg.seed)
        model, strategy = build_model(builder, final, kwargs)
        with strategy.scope():
            seconds += fit_neural(model, final, data, spec.frozen_layer)[2]
    facts = {
        "param_count": float(model.count_params()),
        "epochs_run": float(len(history)),
        "best_epoch": float(keep.best_epoch if cfg.patience is not None else len(history) - 1),
        "epoch_seconds": float(history["epoch_seconds"].median()),
        "replicas": float(replicas),
    }
    if not cfg.train_on_val:
        facts["best_val_accuracy"] = keep.best
    if cfg.refit:
        facts["refit_epochs"] = float(keep.best_epoch + 1)
    x_test, y_test = data["test"]
    saved = spec.export(model) if spec.export else model
    return Trained(saved, y_test, predict_keras(model, x_test), history, seconds, facts)


def predict_keras(model: keras.Model, x: Any) -> np.ndarray:
    """P(positive) per row of ``x``, by the model as served (``KerasScorer``)."""
    return KerasScorer(model).predict_proba(x)[:, 1]
