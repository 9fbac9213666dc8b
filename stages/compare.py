"""Compare the trained families and register the best sentiment model.

Run as ``python -m stages.compare`` (DVC: ``compare``).
Inputs: the families configured in params.yaml and their reference numbers (their modules,
``stages/families/``); for each sentiment family its test predictions
``metrics/predictions/<family>.npz`` (its test metrics are computed from them, as its training
stage computed ``metrics/<family>.json``), its history ``metrics/history/<family>.csv`` (the
validation accuracy of the kept weights is its best epoch's) and ``models/<family>/run.json``
and ``mlflow.json``; for each translator ``metrics/<family>.json``. dvc.yaml declares the
directories, which only the training stages write, so a new family needs no new dep here.
Outputs: ``metrics/summary.md`` (the sentiment leaderboard beside the reference numbers, and the
translator results) and ``metrics/plots/comparison.png`` (accuracies, accuracy by epoch and the
confusion matrices of all sentiment families side by side).
Registry: the champion, the sentiment family with the best validation accuracy, becomes a new
version of the MLflow registered model ``imdb-sentiment`` and gets the alias ``champion``. The
version's model is the raw-text model whose run and model ids ``train@<family>`` recorded in
``models/<family>/mlflow.json`` (``stages.tracking.model_registry``); no new version is made if
the alias already points at that model.
Params: none.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.cli import stage_main
from stages.common.constants import REGISTERED_MODEL
from stages.common.errors import StageError
from stages.common.io import atomic_write_text
from stages.common.paths import HISTORY_DIR, METRICS_DIR, MODELS_DIR, PLOTS_DIR, PREDICTIONS_DIR
from stages.evaluation.metrics import compute_metrics
from stages.evaluation.plots import plot_comparison
from stages.evaluation.predictions import parse_predictions
from stages.evaluation.stats import accuracy_interval, correctness, mcnemar
from stages.evaluation.summary import BOOTSTRAP_SEED, SELECTION_KEY, format_pvalue, render_summary
from stages.families import registry
from stages.families.registry import CONFUSION, Reference
from stages.tracking import checks, store
from stages.tracking.model_registry import check_record, read_record, register_champion

log = logging.getLogger(__name__)

SENTIMENT_KEYS = ("accuracy", "f1", "roc_auc", *CONFUSION, "loss")
# Facts of the training run (models/<family>/run.json), shown in the summary, never diffed.
RUN_FACT_KEYS = ("training_seconds", "param_count")
TRANSLATION_KEYS = ("exact_match", "char_accuracy", "loss")


class CompareError(StageError):
    """An input of the comparison is missing or malformed, or the champion cannot be found."""


def read_metrics(path: Path, keys: tuple[str, ...], target: str) -> dict[str, float]:
    """The ``keys`` of a family's metrics file (a translator's, or a run's facts).

    Raises:
        CompareError: the file (naming the ``dvc repro`` target that writes it) or a key is
            missing, or a value is not a finite number.
    """
    if not path.is_file():
        raise CompareError(f"{path} is missing (run: dvc repro {target})")
    raw = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in keys if not isinstance(raw, dict) or key not in raw]
    if missing:
        raise CompareError(f"{path}: missing metric {missing[0]!r} (rerun: dvc repro {target})")
    bad = [k for k in keys if isinstance(raw[k], bool)
           or not isinstance(raw[k], (int, float)) or not math.isfinite(raw[k])]
    if bad:
        raise CompareError(f"{path}: metric {bad[0]!r} is not a finite number: {raw[bad[0]]!r}")
    return {key: raw[key] for key in keys}


def references() -> dict[str, dict[str, Reference]]:
    """``{task: {family: Reference}}`` of the families configured in params.yaml."""
    return {"sentiment": {f: registry.spec(f).reference for f in registry.sentiment_families()},
            "translation": {f: registry.spec(f).reference
                            for f in registry.translator_families()}}


def read_history(path: Path, target: str) -> pd.DataFrame:
    """A sentiment family's per-epoch ``epoch, accuracy`` (``val_accuracy`` and more kept; the
    empty val columns of a family that validates on nothing dropped)."""
    if not path.is_file():
        raise CompareError(f"{path} is missing (run: dvc repro {target})")
    history = pd.read_csv(path).dropna(axis=1, how="all")
    missing = sorted({"epoch", "accuracy"} - set(history.columns))
    if missing:
        raise CompareError(f"{path}: missing column {missing[0]!r}")
    return history


def read_predictions(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """A family's test labels and P(positive), or a ``CompareError`` naming the target."""
    if not path.is_file():
        raise CompareError(f"{path} is missing (run: dvc repro {target})")
    return parse_predictions(path.read_bytes(), source=str(path))


def test_scores(
    predictions: tuple[np.ndarray, np.ndarray], history: pd.DataFrame
) -> dict[str, float]:
    """A sentiment family's test metrics, and the validation accuracy of its kept weights (its
    best epoch's; NaN for a family trained on the whole train set, which cannot be champion)."""
    scores = compute_metrics(*predictions)
    best = history["val_accuracy"].max() if "val_accuracy" in history else math.nan
    return {key: scores[key] for key in SENTIMENT_KEYS} | {SELECTION_KEY: float(best)}


def accuracy_band(predictions: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """The 95 % bootstrap interval of a family's test accuracy (``ci_low``, ``ci_high``)."""
    low, high = accuracy_interval(*predictions, seed=BOOTSTRAP_SEED)
    return {"ci_low": low, "ci_high": high}


def mcnemar_table(predictions: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """McNemar's exact test for every pair of families on the same test reviews."""
    correct = {family: correctness(*p) for family, p in predictions.items()}
    rows = []
    for a, b in itertools.combinations(correct, 2):
        if len(correct[a]) != len(correct[b]):
            raise CompareError(f"{a} and {b} were tested on different test sets")
        test = mcnemar(correct[a], correct[b])
        rows.append({"A": a, "B": b, "only A right": f"{test.only_a:,}",
                     "only B right": f"{test.only_b:,}", "p-value": format_pvalue(test.pvalue),
                     "different at 0.05": "yes" if test.pvalue < 0.05 else "no"})
    return pd.DataFrame(rows)


def choose_champion(sentiment: dict[str, dict[str, float]]) -> str:
    """The family with the best validation accuracy (the first listed one on a tie).

    Raises:
        CompareError: no family has a validation accuracy.
    """
    eligible = [f for f in sentiment if not math.isnan(sentiment[f][SELECTION_KEY])]
    if not eligible:
        raise CompareError(f"no sentiment family reports {SELECTION_KEY}: no champion")
    return max(eligible, key=lambda family: sentiment[family][SELECTION_KEY])


def selection_tags(metrics: dict[str, float]) -> dict[str, str]:
    """Model version tags saying how the champion was chosen and what it scored."""
    return {"selected_by": SELECTION_KEY, SELECTION_KEY: str(metrics[SELECTION_KEY]),
            "test_accuracy": str(metrics["accuracy"])}


def run(
    *,
    refs: dict[str, dict[str, Reference]] | None = None,
    metrics_dir: Path = METRICS_DIR,
    plots_dir: Path = PLOTS_DIR,
    models_dir: Path = MODELS_DIR,
    predictions_dir: Path = PREDICTIONS_DIR,
    history_dir: Path = HISTORY_DIR,
) -> dict[str, str]:
    """Read every family's results, write the summary and figure, register the champion.

    Args:
        refs: the families compared and their references (default: ``references()``).

    Returns:
        ``champion`` (family), ``version`` (registered model version) and ``run_id``.
    """
    import mlflow

    refs = refs or references()
    histories = {family: read_history(history_dir / f"{family}.csv", f"train@{family}")
                 for family in refs["sentiment"]}
    predictions = {family: read_predictions(predictions_dir / f"{family}.npz", f"train@{family}")
                   for family in refs["sentiment"]}
    sentiment = {family: test_scores(predictions[family], histories[family])
                 | read_metrics(models_dir / family / "run.json", RUN_FACT_KEYS, f"train@{family}")
                 | accuracy_band(predictions[family])
                 for family in refs["sentiment"]}
    translation = {family: read_metrics(metrics_dir / f"{family}.json", TRANSLATION_KEYS,
                                        f"train_translator@{family}")
                   for family in refs["translation"]}
    pairs = mcnemar_table(predictions)
    champion = choose_champion(sentiment)
    uri = store.tracking_uri()
    checks.check_tracking(uri)
    # Registering a models:/<model id> source resolves it through MLflow's current tracking
    # URI, whose default is mlflow.db in the working directory: a queued dvc exp run's
    # temporary workspace, which does not have the model.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    record = read_record(models_dir, champion)
    with store.store_lock(uri):  # found before any output is written
        check_record(client, champion, record)
    atomic_write_text(metrics_dir / "summary.md",
                      render_summary(sentiment, translation, refs, champion, pairs))
    plot_comparison(sentiment, histories, translation, refs, plots_dir / "comparison.png")
    with store.store_lock(uri):  # one read-check-write of the alias at a time
        version = register_champion(client, champion, record, tags=selection_tags(
            sentiment[champion]))
    return {"champion": champion, "version": str(version.version), "run_id": record["run_id"]}


def _run(_: argparse.Namespace) -> None:
    result = run()
    log.info("champion %s: %s version %s", result["champion"], REGISTERED_MODEL,
             result["version"])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.compare``."""
    return stage_main("compare", _run, argv, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
