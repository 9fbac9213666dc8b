"""Train one EN->KO char translator family and measure it with greedy decoding.

Run as ``python -m stages.train_translator --family seq2seq`` (DVC: ``train_translator@<family>``).
Inputs: ``data/prepared/translate/{tokens.npz,vocab.json}``.
Outputs: ``models/<family>/{model.keras,vocab.json}``, ``metrics/<family>.json`` (``exact_match``
and ``char_accuracy`` of greedy translations of all pairs, final training ``loss``),
``metrics/plots/<family>/history.csv`` (per epoch) and, for attention families,
``metrics/plots/<family>/attention.png``. Each execution is an MLflow run in "translation".
Params: ``translate.<family>``.

There is no held-out split (110 word pairs): the metrics measure memorization, not
generalization to unseen words.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import matplotlib
import mlflow
import numpy as np
import pandas as pd

from stages.common import tracking
from stages.common.charvocab import END, PAD, CharVocab, romanize
from stages.common.cli import family_argument, stage_main
from stages.common.constants import TRANSLATION_EXPERIMENT
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params
from stages.common.paths import METRICS_DIR, MODELS_DIR, PLOTS_DIR, PREPARED_DIR
from stages.models import registry
from stages.models.seq2seq import (
    TranslatorParams,
    compile_model,
    greedy_decode,
    inference_models,
)

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402  (after selecting the headless backend)

log = logging.getLogger(__name__)

HEATMAP_WORDS = 4


@dataclass
class Results:
    """What one training run produced, before it is written and logged."""

    metrics: dict[str, float]
    history: pd.DataFrame
    table: pd.DataFrame
    figure: plt.Figure | None
    seconds: float


def fit(
    model: keras.Model, data: dict[str, np.ndarray], cfg: TranslatorParams
) -> tuple[pd.DataFrame, float]:
    """Teacher-forced training; returns the per-epoch history and the wall time in seconds."""
    compile_model(model, cfg)
    target = data["decoder_target"]
    start = time.perf_counter()
    history = model.fit(
        {"encoder_tokens": data["encoder_input"], "decoder_tokens": data["decoder_input"]},
        target,
        sample_weight=(target != PAD).astype("float32"),  # padding excluded from the loss
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        verbose=2,
        callbacks=[tracking.epoch_metrics_callback()],
    )
    seconds = time.perf_counter() - start
    frame = pd.DataFrame(history.history).rename_axis("epoch").reset_index()
    return frame, seconds


def evaluate(
    ids: np.ndarray, data: dict[str, np.ndarray], vocab: CharVocab
) -> tuple[dict[str, float], pd.DataFrame]:
    """Exact match and masked char accuracy of greedy outputs ``ids`` against the targets."""
    target = data["decoder_target"]
    mask = target != PAD
    predicted = [vocab.decode(row) for row in ids]
    table = pd.DataFrame(
        {"english": data["english"], "korean": data["korean"], "predicted": predicted}
    )
    table["correct"] = table["korean"] == table["predicted"]
    metrics = {
        "exact_match": float(table["correct"].mean()),
        "char_accuracy": float((ids == target)[mask].mean()),
    }
    return metrics, table


def attention_figure(
    table: pd.DataFrame, ids: np.ndarray, weights: np.ndarray, vocab: CharVocab
) -> plt.Figure:
    """Heatmaps of decoder steps (romanized Korean) x English characters for a few words."""
    count = min(HEATMAP_WORDS, len(table))
    fig, axes = plt.subplots(
        1, count, figsize=(3 * count + 1, 3), squeeze=False, layout="constrained"
    )
    for ax, row in zip(axes[0], range(count), strict=True):
        english = table["english"].iloc[row]
        steps = int(np.argmax(ids[row] == END)) + 1 if END in ids[row] else ids.shape[1]
        labels = [romanize(vocab.tokens[i]) for i in ids[row, :steps]]
        image = ax.imshow(weights[row, :steps, : len(english)], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(english)), list(english))
        ax.set_yticks(range(steps), labels)
        ax.set_title(f"{english} -> {romanize_word(table['predicted'].iloc[row])}")
    fig.colorbar(image, ax=axes[0].tolist(), label="attention weight")
    return fig


def romanize_word(word: str) -> str:
    return "-".join(romanize(ch) for ch in word)


def load_data(data_dir: Path) -> tuple[dict[str, np.ndarray], CharVocab]:
    """Arrays of ``tokens.npz`` and the vocabulary written by tokenize_translate."""
    with np.load(data_dir / "tokens.npz") as npz:
        data = {key: npz[key] for key in npz.files}
    return data, CharVocab.load(data_dir / "vocab.json")


def save_outputs(
    family: str,
    model: keras.Model,
    results: Results,
    *,
    data_dir: Path,
    models_dir: Path,
    metrics_dir: Path,
    plots_dir: Path,
) -> None:
    """Write the model directory, metrics JSON, history CSV and heatmap PNG atomically."""
    with atomic_path(models_dir / family) as tmp:
        tmp.mkdir()
        model.save(tmp / "model.keras")
        shutil.copyfile(data_dir / "vocab.json", tmp / "vocab.json")
    atomic_write_json(metrics_dir / f"{family}.json", results.metrics)
    # One plots directory per family: only attention families have a heatmap, and a foreach
    # stage cannot declare an output that some families lack.
    with atomic_path(plots_dir / family) as tmp:
        tmp.mkdir()
        results.history.to_csv(tmp / "history.csv", index=False)
        if results.figure is not None:
            results.figure.savefig(tmp / "attention.png", dpi=100)


def log_results(model: keras.Model, results: Results) -> None:
    """Final metrics, translations table, heatmap and model of the active MLflow run.

    ``loss`` is not logged again: its per-epoch history already ends with the final value.
    """
    final = {k: v for k, v in results.metrics.items() if k != "loss"}
    mlflow.log_metrics({**final, "train_seconds": results.seconds})
    mlflow.log_table(results.table, artifact_file="translations.json")
    if results.figure is not None:
        mlflow.log_figure(results.figure, "plots/attention.png")
    tracking.log_keras_model(model)


def train_and_translate(
    model: keras.Model, data: dict[str, np.ndarray], vocab: CharVocab, cfg: TranslatorParams
) -> Results:
    """Fit ``model``, then translate every pair by greedy decoding and score the outputs."""
    history, seconds = fit(model, data, cfg)
    log.info(
        "trained %d epochs in %.1f s (%.2f s/epoch)", cfg.epochs, seconds, seconds / cfg.epochs
    )
    encoder, step = inference_models(model)
    enc_tokens = data["encoder_input"]
    ids, weights = greedy_decode(encoder, step, enc_tokens, max_len=vocab.decoder_length)
    metrics, table = evaluate(ids, data, vocab)
    metrics["loss"] = float(history["loss"].iloc[-1])
    figure = None if weights is None else attention_figure(table, ids, weights, vocab)
    return Results(metrics, history, table, figure, seconds)


def run(
    params: Params,
    family: str,
    *,
    data_dir: Path = PREPARED_DIR / "translate",
    models_dir: Path = MODELS_DIR,
    metrics_dir: Path = METRICS_DIR,
    plots_dir: Path = PLOTS_DIR,
) -> dict[str, float]:
    """Train ``family``, translate every pair greedily, write outputs, log the MLflow run."""
    cfg = registry.family_params(params, family)
    tracking.check_tracking(tracking.tracking_uri())
    data, vocab = load_data(data_dir)
    keras.utils.set_random_seed(cfg.seed)
    model = registry.spec(family).builder(cfg, vocab_size=vocab.size)
    with tracking.tracking_run(
        experiment=TRANSLATION_EXPERIMENT,
        run_name=family,
        stage=f"train_translator@{family}",
        params=asdict(cfg),
        inputs=[data_dir],
    ):
        results = train_and_translate(model, data, vocab, cfg)
        save_outputs(
            family,
            model,
            results,
            data_dir=data_dir,
            models_dir=models_dir,
            metrics_dir=metrics_dir,
            plots_dir=plots_dir,
        )
        log_results(model, results)
    if results.figure is not None:
        plt.close(results.figure)
    log.info("%s: %s", family, results.metrics)
    return results.metrics


def _run(args: argparse.Namespace) -> None:
    run(registry.load_params(), args.family)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.train_translator --family <family>``."""
    return stage_main("train_translator@{family}", _run, argv, doc=__doc__,
                      arguments=family_argument(registry.translator_families()))


if __name__ == "__main__":
    raise SystemExit(main())
