"""The fit loop of the EN->KO translator families (kind ``translator``).

Teacher-forced training with padding excluded from the loss, then greedy translation of every
pair and its exact-match and character accuracy. What is family-specific (builder, compilation,
inference models, decoding) comes from the family's module through its spec.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from stages.data.charvocab import END, PAD, CharVocab, romanize
from stages.tracking import keras_log

log = logging.getLogger(__name__)

HEATMAP_WORDS = 4


@dataclass
class Results:
    """What one training run produced, before it is written and logged."""

    model: keras.Model
    metrics: dict[str, float]
    history: pd.DataFrame
    table: pd.DataFrame
    figure: Figure | None
    seconds: float


def fit(
    model: keras.Model, data: dict[str, np.ndarray], cfg: Any, compile_model: Any
) -> tuple[pd.DataFrame, float]:
    """Teacher-forced training (compiled by the family's ``compile_model``); returns the
    per-epoch history and the wall time in seconds."""
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
        callbacks=[keras_log.epoch_metrics_callback()],
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
) -> Figure:
    """Heatmaps of decoder steps (romanized Korean) x English characters for a few words."""
    count = min(HEATMAP_WORDS, len(table))
    fig = Figure(figsize=(3 * count + 1, 3), layout="constrained")
    axes = fig.subplots(1, count, squeeze=False)
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


def train(spec: Any, cfg: Any, data: dict[str, np.ndarray], vocab: CharVocab) -> Results:
    """Build and fit the family's model, then translate every pair by greedy decoding (the
    family's ``inference_models`` and ``greedy_decode``) and score the outputs. Seeded by
    ``cfg.seed``."""
    family = spec.load()
    keras.utils.set_random_seed(cfg.seed)
    model = spec.builder(cfg, vocab_size=vocab.size)
    history, seconds = fit(model, data, cfg, family.compile_model)
    log.info(
        "trained %d epochs in %.1f s (%.2f s/epoch)", cfg.epochs, seconds, seconds / cfg.epochs
    )
    encoder, step = family.inference_models(model)
    enc_tokens = data["encoder_input"]
    ids, weights = family.greedy_decode(encoder, step, enc_tokens, max_len=vocab.decoder_length)
    metrics, table = evaluate(ids, data, vocab)
    metrics["loss"] = float(history["loss"].iloc[-1])
    figure = None if weights is None else attention_figure(table, ids, weights, vocab)
    return Results(model, metrics, history, table, figure, seconds)
