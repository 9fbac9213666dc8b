"""Compare the trained families and register the best sentiment model.

Run as ``python -m stages.compare`` (DVC: ``compare``).
Inputs: ``stages/references.yaml`` (the families and their reference numbers), each listed
family's ``metrics/<family>.json`` and, for the sentiment families,
``metrics/plots/<family>_history.csv``.
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
from stages.common.paths import METRICS_DIR, MODELS_DIR, PLOTS_DIR
from stages.evaluation.plots import plot_comparison
from stages.evaluation.predictions import parse_predictions
from stages.evaluation.references import CONFUSION, REFERENCES_FILE, load_references
from stages.evaluation.stats import accuracy_interval, correctness, mcnemar
from stages.evaluation.summary import BOOTSTRAP_SEED, SELECTION_KEY, format_pvalue, render_summary
from stages.tracking import checks, store
from stages.tracking.model_registry import check_record, read_record, register_champion

log = logging.getLogger(__name__)

SENTIMENT_KEYS = ("accuracy", "f1", "roc_auc", *CONFUSION, "loss")
# Facts of the training run (models/<family>/run.json), shown in the summary, never diffed.
RUN_FACT_KEYS = ("training_seconds", "param_count")
# A family trained on the whole train set (the seed protocol) has no validation score: it is
# listed, but cannot be chosen as champion.
OPTIONAL_SENTIMENT_KEYS = (SELECTION_KEY,)
TRANSLATION_KEYS = ("exact_match", "char_accuracy", "loss")


class CompareError(StageError):
    """An input of the comparison is missing or malformed, or the champion cannot be found."""


def read_metrics(
    path: Path, keys: tuple[str, ...], target: str, optional: tuple[str, ...] = ()
) -> dict[str, float]:
    """The ``keys`` of a family's metrics file, and the ``optional`` ones (NaN when absent).

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
    present = [*keys, *(key for key in optional if key in raw)]
    bad = [k for k in present if isinstance(raw[k], bool)
           or not isinstance(raw[k], (int, float)) or not math.isfinite(raw[k])]
    if bad:
        raise CompareError(f"{path}: metric {bad[0]!r} is not a finite number: {raw[bad[0]]!r}")
    return {key: raw.get(key, math.nan) for key in (*keys, *optional)}


def read_history(path: Path, target: str) -> pd.DataFrame:
    """A sentiment family's per-epoch ``epoch, accuracy`` (``val_accuracy`` and more kept)."""
    if not path.is_file():
        raise CompareError(f"{path} is missing (run: dvc repro {target})")
    history = pd.read_csv(path)
    missing = sorted({"epoch", "accuracy"} - set(history.columns))
    if missing:
        raise CompareError(f"{path}: missing column {missing[0]!r}")
    return history


def read_predictions(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """A family's test labels and P(positive), or a ``CompareError`` naming the target."""
    if not path.is_file():
        raise CompareError(f"{path} is missing (run: dvc repro {target})")
    return parse_predictions(path.read_bytes(), source=str(path))


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
    references_path: Path = REFERENCES_FILE,
    metrics_dir: Path = METRICS_DIR,
    plots_dir: Path = PLOTS_DIR,
    models_dir: Path = MODELS_DIR,
    predictions_dir: Path | None = None,
) -> dict[str, str]:
    """Read every family's results, write the summary and figure, register the champion.

    Returns:
        ``champion`` (family), ``version`` (registered model version) and ``run_id``.
    """
    import mlflow

    predictions_dir = predictions_dir or metrics_dir / "predictions"
    refs = load_references(references_path)
    sentiment = {family: read_metrics(metrics_dir / f"{family}.json", SENTIMENT_KEYS,
                                      f"train@{family}", OPTIONAL_SENTIMENT_KEYS)
                 | read_metrics(models_dir / family / "run.json", RUN_FACT_KEYS, f"train@{family}")
                 for family in refs["sentiment"]}
    translation = {family: read_metrics(metrics_dir / f"{family}.json", TRANSLATION_KEYS,
                                        f"train_translator@{family}")
                   for family in refs["translation"]}
    histories = {family: read_history(plots_dir / f"{family}_history.csv", f"train@{family}")
                 for family in refs["sentiment"]}
    for family in refs["sentiment"]:
        sentiment[family] |= accuracy_band(read_predictions(
            predictions_dir / f"{family}.npz", f"train@{family}"))
    pairs = mcnemar_table({family: read_predictions(predictions_dir / f"{family}.npz",
                                                    f"train@{family}")
                           for family in refs["sentiment"]})
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
