"""Train one sentiment family and measure it on the 25,000 IMDB test reviews.

Run as ``python -m stages.train_classifier --family lstm`` (DVC: ``train@<family>``).
Inputs: neural families read ``data/prepared/vectorized/{vocab.tsv,train,val,test.npz}`` (and
``glove_bilstm`` also ``data/prepared/embeddings.npy``); ``tfidf_logreg`` reads the review texts
``data/prepared/imdb/{train,val,test}.parquet``.
Outputs: ``models/<family>/`` (``model.keras`` + ``preprocess.json``, or ``model.joblib`` for
``tfidf_logreg``), ``metrics/<family>.json`` (test metrics, training time, parameter count),
``metrics/plots/<family>_history.csv`` (per epoch) and ``metrics/plots/<family>_confusion.png``.
Each execution is one MLflow run "<family>" in the experiment "sentiment"; its
``dataset_fingerprint`` tag is the sha256 of the input files this family read.
Params: ``train.<family>``.

Neural families share one loop: seeded and op-deterministic, early stopping on the validation
split with the best epoch's weights kept; the test split is used once, after training. A family
with ``train_on_val: true`` (``transformer_seed``, as the seed: all 25,000 training reviews, final
weights) has no validation metrics: no ``val_*`` history columns, no ``best_val_accuracy``.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf

from stages.common import tracking
from stages.common.io import atomic_path, atomic_write_json
from stages.common.logs import setup_logging
from stages.common.metrics import compute_metrics, plot_confusion
from stages.common.params import (
    GloveBilstmParams,
    NeuralClassifierParams,
    Params,
    ParamsError,
    TfidfLogregParams,
    load_params,
)
from stages.common.paths import METRICS_DIR, MODELS_DIR, PLOTS_DIR, PREPARED_DIR
from stages.common.text import VectorizedFormatError, load_split, read_vocab
from stages.models.classifiers import (
    BUILDERS,
    GLOVE_LAYER,
    compile_model,
    positive_probability,
)
from stages.models.tfidf import build_tfidf_logreg, standardize_texts

log = logging.getLogger(__name__)

EXPERIMENT = "sentiment"
SPLITS = ("train", "val", "test")
FAMILIES = (*BUILDERS, "tfidf_logreg")
MONITOR = "val_accuracy"
PREDICT_BATCH = 256  # attention scores of 1024 x 400 x 400 x heads took GBs


@dataclass
class Inputs:
    """Where a run reads its data (defaults: the DVC outputs of the data stages)."""

    vectorized_dir: Path = PREPARED_DIR / "vectorized"
    embeddings_path: Path = PREPARED_DIR / "embeddings.npy"
    imdb_dir: Path = PREPARED_DIR / "imdb"


@dataclass
class Outputs:
    """Where a run writes (defaults: the DVC outputs of ``train@<family>``)."""

    models_dir: Path = MODELS_DIR
    metrics_dir: Path = METRICS_DIR
    plots_dir: Path = PLOTS_DIR


@dataclass
class Result:
    """A trained family: the test probabilities, history and facts for metrics and MLflow."""

    model: Any
    y_test: np.ndarray
    p_test: np.ndarray
    history: pd.DataFrame
    seconds: float
    extra: dict[str, float]


def family_params(params: Params, family: str) -> Any:
    """The ``train.<family>`` section, or a ParamsError listing the configured families."""
    if family not in params.train:
        have = ", ".join(params.train) or "none"
        raise ParamsError(f"params: train.{family}: no such family (configured: {have})")
    return params.train[family]


def input_files(family: str, inputs: Inputs) -> list[Path]:
    """The files ``family`` reads: its dataset fingerprint and its honest dependency list."""
    if family == "tfidf_logreg":
        return [inputs.imdb_dir / f"{split}.parquet" for split in SPLITS]
    files = [inputs.vectorized_dir / "vocab.tsv"]
    files += [inputs.vectorized_dir / f"{split}.npz" for split in SPLITS]
    return files + ([inputs.embeddings_path] if family == "glove_bilstm" else [])


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: TF's no-op strategy; ``mirrored``: one replica per local GPU, or per logical
    CPU device when there is no GPU (``batch_size`` stays the global batch, split across them)."""
    if name == "default":
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


def make_dataset(
    x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int | None = None
) -> tf.data.Dataset:
    """Batches of ``(x, y)``: shuffled index batches gathered from in-memory tensors.

    Only the indices go through the shuffle buffer, so refilling it at an epoch start is
    instant; no parallel map, and a fixed one-batch prefetch instead of AUTOTUNE.
    """
    x_t, y_t = tf.constant(x), tf.constant(y)
    ds = tf.data.Dataset.range(len(x))
    if seed is not None:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda idx: (tf.gather(x_t, idx), tf.gather(y_t, idx)))
    return ds.prefetch(1)


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


def phases(cfg: NeuralClassifierParams) -> list[tuple[int, bool]]:
    """``(end_epoch, embedding_trainable)`` per ``fit`` call: GloVe warm-up, then fine-tuning."""
    if isinstance(cfg, GloveBilstmParams) and cfg.frozen_epochs:
        return [(cfg.frozen_epochs, False), (cfg.epochs, True)]
    return [(cfg.epochs, True)]


def fit_datasets(
    cfg: NeuralClassifierParams, data: Mapping[str, tuple]
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Training batches and validation batches; ``train_on_val`` trains on both, validates on
    neither (the seed's protocol: all 25,000 training reviews, final weights)."""
    x, y = data["train"]
    if cfg.train_on_val:
        x, y = np.concatenate([x, data["val"][0]]), np.concatenate([y, data["val"][1]])
        return make_dataset(x, y, batch_size=cfg.batch_size, seed=cfg.seed), None
    train = make_dataset(x, y, batch_size=cfg.batch_size, seed=cfg.seed)
    return train, make_dataset(*data["val"], batch_size=PREDICT_BATCH)


def fit_neural(
    model: keras.Model, cfg: NeuralClassifierParams, data: Mapping[str, tuple]
) -> tuple[pd.DataFrame, KeepBest, float]:
    """Run the family's ``fit`` phases; keep the best epoch's weights unless patience is null."""
    train, val = fit_datasets(cfg, data)
    keep = KeepBest(cfg.patience)
    callbacks = [EpochTimer(), *([keep] if val else []), tracking.epoch_metrics_callback()]
    frames, start, epoch = [], time.perf_counter(), 0
    for end, trainable in phases(cfg):
        if GLOVE_LAYER in {layer.name for layer in model.layers}:
            model.get_layer(GLOVE_LAYER).trainable = trainable
        steps = (end - epoch) * int(train.cardinality())  # a cosine schedule spans the phase
        compile_model(model, cfg, decay_steps=steps)  # (re)compiling applies trainable flags
        history = model.fit(
            train,
            validation_data=val,
            initial_epoch=epoch,
            epochs=end,
            callbacks=callbacks,
            shuffle=False,
            verbose=2,
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


def train_neural(family: str, cfg: NeuralClassifierParams, inputs: Inputs) -> Result:
    """Build, train and test-predict a Keras family on its top-k vocabulary and length."""
    vocab_size = min(cfg.vocab_size, len(read_vocab(inputs.vectorized_dir / "vocab.tsv")))
    data = {
        split: load_split(
            inputs.vectorized_dir / f"{split}.npz",
            vocab_size=vocab_size,
            seq_len=cfg.seq_len,
            padding=cfg.padding,
            truncating=cfg.truncating,
        )
        for split in SPLITS
    }
    log.info("%s: %s, vocab %d", family, {k: v[0].shape for k, v in data.items()}, vocab_size)
    embeddings = np.load(inputs.embeddings_path) if family == "glove_bilstm" else None
    strategy = make_strategy(cfg.strategy)
    replicas = strategy.num_replicas_in_sync
    log.info("%s: strategy %s, num_replicas_in_sync %d", family, cfg.strategy, replicas)
    with strategy.scope():  # variables, optimizer and every (re)compile belong to the strategy
        model = BUILDERS[family](cfg, vocab_size=vocab_size, embeddings=embeddings)
        history, keep, seconds = fit_neural(model, cfg, data)
    x_test, y_test = data["test"]
    p_test = positive_probability(model.predict(x_test, batch_size=PREDICT_BATCH, verbose=0))
    extra = {
        "param_count": float(model.count_params()),
        "epochs_run": float(len(history)),
        "best_epoch": float(keep.best_epoch if cfg.patience is not None else len(history) - 1),
        **({} if cfg.train_on_val else {"best_val_accuracy": keep.best}),
        "epoch_seconds": float(history["epoch_seconds"].median()),
        "replicas": float(replicas),
    }
    return Result(model, y_test, p_test, history, seconds, extra)


def train_tfidf(cfg: TfidfLogregParams, inputs: Inputs) -> Result:
    """Fit TF-IDF + logistic regression on the train split; val/test only for measurement."""
    frames = {s: pd.read_parquet(inputs.imdb_dir / f"{s}.parquet") for s in SPLITS}
    texts = {s: standardize_texts(frame["text"].tolist()) for s, frame in frames.items()}
    labels = {s: frame["label"].to_numpy(dtype=np.int32) for s, frame in frames.items()}
    model = build_tfidf_logreg(cfg)
    start = time.perf_counter()
    model.fit(texts["train"], labels["train"])
    seconds = time.perf_counter() - start
    row: dict[str, float] = {"epoch": 0}
    for split, prefix in (("train", ""), ("val", "val_")):
        scores = compute_metrics(labels[split], model.predict_proba(texts[split])[:, 1])
        row |= {f"{prefix}accuracy": scores["accuracy"], f"{prefix}loss": scores["loss"]}
    mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=0)
    p_test = model.predict_proba(texts["test"])[:, 1]
    features = len(model.named_steps["tfidf"].vocabulary_)
    extra = {"param_count": float(features + 1), "best_val_accuracy": row["val_accuracy"]}
    return Result(model, labels["test"], p_test, pd.DataFrame([row]), seconds, extra)


def save_model(family: str, cfg: Any, model: Any, models_dir: Path) -> None:
    """``models/<family>/``: ``model.keras`` + ``preprocess.json``, or ``model.joblib``."""
    import joblib

    with atomic_path(models_dir / family) as tmp:
        tmp.mkdir()
        if isinstance(model, keras.Model):
            model.save(tmp / "model.keras")
            keys = ("vocab_size", "seq_len", "padding", "truncating")
            atomic_write_json(tmp / "preprocess.json", {k: getattr(cfg, k) for k in keys})
        else:
            joblib.dump(model, tmp / "model.joblib")


def save_outputs(family: str, cfg: Any, result: Result, metrics: dict, outputs: Outputs) -> Path:
    """Write the model, metrics JSON, history CSV and confusion PNG; return the PNG path."""
    save_model(family, cfg, result.model, outputs.models_dir)
    atomic_write_json(outputs.metrics_dir / f"{family}.json", metrics)
    with atomic_path(outputs.plots_dir / f"{family}_history.csv") as tmp:
        result.history.to_csv(tmp, index=False)
    png = outputs.plots_dir / f"{family}_confusion.png"
    title = f"{family}: test accuracy {metrics['accuracy']:.4f}"
    plot_confusion(metrics, png, title=title)
    return png


def log_sklearn_model(model: Any, *, name: str = "model") -> None:
    """Log ``model`` in the MLflow sklearn flavor, scikit-learn pinned (no requirement probing)."""
    import mlflow.sklearn

    requirements = [f"scikit-learn=={version('scikit-learn')}"]
    mlflow.sklearn.log_model(model, name=name, pip_requirements=requirements)


def log_run(result: Result, metrics: dict, png: Path) -> None:
    """Final test metrics (``test_`` prefix), confusion figure and model of the active run."""
    mlflow.log_metrics({f"test_{k}": float(v) for k, v in metrics.items()})
    mlflow.log_artifact(str(png), artifact_path="plots")
    if isinstance(result.model, keras.Model):
        tracking.log_keras_model(result.model)
    else:
        log_sklearn_model(result.model)


def run(
    params: Params,
    family: str,
    *,
    inputs: Inputs | None = None,
    outputs: Outputs | None = None,
) -> dict[str, float]:
    """Train ``family``, test it once, write its outputs and log one MLflow run."""
    inputs, outputs = inputs or Inputs(), outputs or Outputs()
    cfg = family_params(params, family)
    tracking.check_tracking(tracking.tracking_uri())
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    with tracking.tracking_run(
        experiment=EXPERIMENT,
        run_name=family,
        stage=f"train@{family}",
        params=asdict(cfg),
        inputs=input_files(family, inputs),
    ):
        if family == "tfidf_logreg":
            result = train_tfidf(cfg, inputs)
        else:
            result = train_neural(family, cfg, inputs)
        metrics = compute_metrics(result.y_test, result.p_test)
        metrics |= {"training_seconds": result.seconds, **result.extra}
        png = save_outputs(family, cfg, result, metrics, outputs)
        log_run(result, metrics, png)
    log.info("%s: test accuracy %.4f in %.1f s", family, metrics["accuracy"], result.seconds)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", required=True, choices=FAMILIES)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        run(load_params(), args.family)
    except (ParamsError, tracking.TrackingError, VectorizedFormatError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
