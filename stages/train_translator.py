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
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np

from stages.common.cli import family_argument, stage_main
from stages.common.constants import TRANSLATION_EXPERIMENT
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params
from stages.common.paths import METRICS_DIR, MODELS_DIR, PLOTS_DIR, PREPARED_DIR
from stages.data.charvocab import CharVocab
from stages.families import registry
from stages.models.translator_fit import Results
from stages.tracking import keras_log, runs

log = logging.getLogger(__name__)


def load_data(data_dir: Path) -> tuple[dict[str, np.ndarray], CharVocab]:
    """Arrays of ``tokens.npz`` and the vocabulary written by tokenize_translate."""
    with np.load(data_dir / "tokens.npz") as npz:
        data = {key: npz[key] for key in npz.files}
    return data, CharVocab.load(data_dir / "vocab.json")


def save_outputs(
    family: str,
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
        results.model.save(tmp / "model.keras")
        shutil.copyfile(data_dir / "vocab.json", tmp / "vocab.json")
    atomic_write_json(metrics_dir / f"{family}.json", results.metrics)
    # One plots directory per family: only attention families have a heatmap, and a foreach
    # stage cannot declare an output that some families lack.
    with atomic_path(plots_dir / family) as tmp:
        tmp.mkdir()
        results.history.to_csv(tmp / "history.csv", index=False)
        if results.figure is not None:
            results.figure.savefig(tmp / "attention.png", dpi=100)


def log_results(results: Results) -> None:
    """Final metrics, translations table, heatmap and model of the active MLflow run.

    ``loss`` is not logged again: its per-epoch history already ends with the final value.
    """
    final = {k: v for k, v in results.metrics.items() if k != "loss"}
    mlflow.log_metrics({**final, "train_seconds": results.seconds})
    mlflow.log_table(results.table, artifact_file="translations.json")
    if results.figure is not None:
        mlflow.log_figure(results.figure, "plots/attention.png")
    keras_log.log_keras_model(results.model)


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
    spec = registry.spec(family)
    cfg = registry.family_params(params, family)
    data, vocab = load_data(data_dir)
    with runs.tracking_run(
        experiment=TRANSLATION_EXPERIMENT,
        run_name=family,
        stage=f"train_translator@{family}",
        params=asdict(cfg),
        inputs=[data_dir],
    ):
        results = spec.trainer().train(spec, cfg, data, vocab)
        save_outputs(
            family,
            results,
            data_dir=data_dir,
            models_dir=models_dir,
            metrics_dir=metrics_dir,
            plots_dir=plots_dir,
        )
        log_results(results)
    log.info("%s: %s", family, results.metrics)
    return results.metrics


def _run(args: argparse.Namespace) -> None:
    run(registry.load_params(families=[args.family]), args.family)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.train_translator --family <family>``."""
    return stage_main("train_translator@{family}", _run, argv, doc=__doc__,
                      arguments=family_argument(registry.translator_families()))


if __name__ == "__main__":
    raise SystemExit(main())
