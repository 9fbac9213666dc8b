"""Figures: the confusion matrix of a family and the comparison of all families.

Matplotlib runs headless (Agg); every figure is written atomically and closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay

from stages.common.io import atomic_path

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402  (after selecting the headless backend)

LABEL_NAMES = ("negative", "positive")
PANEL_WIDTH_IN = 3.2  # comparison.png: one column per sentiment family, at least 3
FIGURE_HEIGHT_IN = 7.0
DPI = 100


def draw_confusion(ax: Any, counts: dict, *, title: str, fontsize: float | None = None) -> None:
    """The confusion matrix of ``counts`` (tn/fp/fn/tp) on ``ax``, counts in the cells
    (rows: true, columns: predicted)."""
    matrix = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]], dtype=int)
    ConfusionMatrixDisplay(matrix, display_labels=LABEL_NAMES).plot(
        ax=ax, cmap="Blues", values_format="d", colorbar=False
    )
    ax.set_title(title, fontsize=fontsize)


def save_figure(fig: Any, target: Path) -> None:
    """Write ``fig`` to ``target`` as PNG atomically, then close it."""
    try:
        with atomic_path(target, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=DPI)
    finally:
        plt.close(fig)


def plot_confusion(counts: dict, target: Path, *, title: str) -> None:
    """Write a family's confusion-matrix PNG."""
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    draw_confusion(ax, counts, title=title)
    fig.tight_layout()
    save_figure(fig, target)


def figure_size(n_families: int) -> tuple[float, float]:
    """``comparison.png`` size in inches: one panel column per sentiment family, at least 3."""
    return PANEL_WIDTH_IN * max(n_families, 3), FIGURE_HEIGHT_IN


def plot_comparison(
    sentiment: dict[str, dict[str, float]],
    histories: dict[str, pd.DataFrame],
    translation: dict[str, dict[str, float]],
    refs: dict[str, dict[str, Any]],
    target: Path,
) -> None:
    """Top: accuracies, accuracy by epoch, translators; bottom: one confusion matrix per family."""
    fig = plt.figure(figsize=figure_size(len(sentiment)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1.0])
    bars, epochs, translators = top.subplots(1, 3)
    _plot_accuracies(bars, sentiment, refs["sentiment"])
    _plot_epochs(epochs, histories)
    _plot_translators(translators, translation, refs["translation"])
    for ax, (family, m) in zip(bottom.subplots(1, len(sentiment), squeeze=False)[0],
                               sentiment.items(), strict=True):
        draw_confusion(ax, m, title=f"{family}: accuracy {m['accuracy']:.5f}", fontsize=9)
    save_figure(fig, target)


def _plot_accuracies(ax: Any, sentiment: dict, refs: dict[str, Any]) -> None:
    order = sorted(sentiment, key=lambda family: sentiment[family]["accuracy"])
    y = np.arange(len(order))
    test = [sentiment[f]["accuracy"] for f in order]
    errors = [[sentiment[f]["accuracy"] - sentiment[f]["ci_low"] for f in order],
              [sentiment[f]["ci_high"] - sentiment[f]["accuracy"] for f in order]]
    ax.barh(y, test, xerr=errors, color="tab:blue", ecolor="black", capsize=3,
            label="test (95 % CI)")
    ax.plot([sentiment[f]["best_val_accuracy"] for f in order], y, "o", color="tab:orange",
            label="validation")
    ax.plot([refs[f].accuracy for f in order], y, "|", color="black", markersize=18,
            markeredgewidth=2, label="reference")
    for yi, value in zip(y, test, strict=True):
        ax.annotate(f"{value:.4f}", (value, yi), xytext=(-3, 0), textcoords="offset points",
                    ha="right", va="center", color="white", fontsize=8)
    values = test + [refs[f].accuracy for f in order]
    ax.set_xlim(max(0.0, min(values) - 0.05), 1.02)
    ax.set_yticks(y, order)
    ax.set_title("Sentiment accuracy")
    ax.legend(fontsize=7, loc="lower right")


def _plot_epochs(ax: Any, histories: dict[str, pd.DataFrame]) -> None:
    for i, (family, history) in enumerate(histories.items()):
        color = f"C{i}"
        if "val_accuracy" in history:
            ax.plot(history["epoch"], history["val_accuracy"], "o-", color=color, label=family)
        ax.plot(history["epoch"], history["accuracy"], "--", color=color, alpha=0.6)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Accuracy by epoch (solid: validation, dashed: training)", fontsize=9)
    ax.legend(fontsize=7)


def _plot_translators(ax: Any, translation: dict, refs: dict[str, Any]) -> None:
    x = np.arange(len(translation))
    ax.bar(x - 0.2, [m["exact_match"] for m in translation.values()], 0.4, label="exact match")
    ax.bar(x + 0.2, [m["char_accuracy"] for m in translation.values()], 0.4,
           label="char accuracy")
    ax.plot(x - 0.2, [refs[f].accuracy for f in translation], "_", color="black",
            markersize=20, markeredgewidth=2, label="reference")
    ax.set_xticks(x, list(translation), fontsize=8)
    ax.set_ylim(0.0, 1.3)
    ax.set_title("Translators (EN -> KO)")
    ax.legend(fontsize=7, loc="upper center", ncols=3)




