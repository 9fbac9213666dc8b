"""compare.run on fixture predictions, histories, metrics files and runs in a temporary MLflow
store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from stages import compare
from stages.families.registry import Reference
from stages.tracking.model_registry import RegistryError
from tests.compare_fixtures import (
    log_training_run,
    references,
    sentiment_metrics,
    write_history,
    write_results,
)

LEADERBOARD = """\
|   rank | family           |   accuracy |       95 % CI |     F1 |   ROC AUC |     tn |    fp |    fn |     tp |   val. accuracy |   training s |   parameters | reference                                |   vs reference |
|-------:|:-----------------|-----------:|--------------:|-------:|----------:|-------:|------:|------:|-------:|----------------:|-------------:|-------------:|:-----------------------------------------|---------------:|
|      1 | tfidf_logreg     |    0.90120 | 0.8973-0.9049 | 0.9009 |    0.9012 | 11,300 | 1,200 | 1,270 | 11,230 |          0.9100 |         33.1 |    1,613,432 | 0.89-0.90                                |       +0.01120 |
|      2 | lstm (champion)  |    0.88000 | 0.8758-0.8840 | 0.8800 |    0.8800 | 11,000 | 1,500 | 1,500 | 11,000 |          0.9200 |        140.2 |    1,293,345 | >= 0.87                                  |       +0.01000 |
|      3 | transformer      |    0.87000 | 0.8656-0.8740 | 0.8697 |    0.8700 | 10,900 | 1,600 | 1,650 | 10,850 |          0.8900 |        630.0 |    1,360,001 | 0.875 (no positions) / 0.883 (positions) |       -0.01300 |
|      4 | glove_bilstm     |    0.85000 | 0.8455-0.8545 | 0.8515 |    0.8500 | 10,500 | 2,000 | 1,750 | 10,750 |          0.8600 |      1,234.5 |       34,113 | ~ 0.87                                   |       -0.02000 |
|      5 | transformer_seed |    0.75296 | 0.7473-0.7583 | 0.7226 |    0.7530 | 10,780 | 1,720 | 4,456 |  8,044 |          0.7801 |         98.8 |      344,418 | 0.75296                                  |       +0.00000 |
"""  # noqa: E501
TRANSLATORS = """\
| family            |   exact match |   char accuracy |   final training loss | reference     |   vs reference |
|:------------------|--------------:|----------------:|----------------------:|:--------------|---------------:|
| seq2seq           |        1.0000 |          1.0000 |                0.0026 | 110/110 exact |        +0.0000 |
| seq2seq_attention |        0.9909 |          0.9969 |                0.0123 | 110/110 exact |        -0.0091 |
"""  # noqa: E501
SEED_REFERENCE = (
    "| transformer_seed | seed transformer classifier (num_words 10000, maxlen 80, 10 epochs)"
    "                | 0.75296; tn 10,780 / fp 1,720 / fn 4,456 / tp 8,044 "
    "| 0.75296; tn 10,780 / fp 1,720 / fn 4,456 / tp 8,044 |"
)




@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, Path, Path]:
    metrics_dir, plots_dir = tmp_path / "metrics", tmp_path / "metrics" / "plots"
    plots_dir.mkdir(parents=True)
    write_results(metrics_dir, tmp_path / "models")
    return metrics_dir, plots_dir, tmp_path / "models"


def run(results: tuple[Path, Path, Path]) -> dict[str, str]:
    metrics_dir = results[0]
    return compare.run(refs=references(), metrics_dir=metrics_dir, plots_dir=results[1],
                       models_dir=models_dir(results),
                       predictions_dir=metrics_dir / "predictions",
                       history_dir=metrics_dir / "history")


def models_dir(results: tuple[Path, Path, Path]) -> Path:
    return results[0].parent / "models"


def test_summary_figure_and_champion_alias(
    results: tuple[Path, Path, Path], store: str
) -> None:
    lstm = log_training_run("lstm", sentiment_metrics("lstm"), models_dir=models_dir(results))
    log_training_run("tfidf_logreg", sentiment_metrics("tfidf_logreg"),
                     models_dir=models_dir(results))
    # Later lstm runs that did not produce models/lstm/: another experiment, a failure.
    log_training_run("lstm", {**sentiment_metrics("lstm"), "accuracy": 0.5})
    log_training_run("lstm", sentiment_metrics("lstm"), status="FAILED")

    assert run(results) == {"champion": "lstm", "version": "1", "run_id": lstm}

    summary = (results[0] / "summary.md").read_text(encoding="utf-8")
    assert LEADERBOARD in summary
    assert TRANSLATORS in summary
    assert SEED_REFERENCE in summary
    assert "**Champion: `lstm`** (validation accuracy 0.9200)" in summary
    assert "The best test accuracy is `tfidf_logreg`'s." in summary
    with Image.open(results[1] / "comparison.png") as png:
        assert (png.format, png.size) == ("PNG", (1600, 700))  # 5 panels of 3.2 x 7 in, 100 dpi

    client = MlflowClient(store, store)
    version = client.get_model_version_by_alias("imdb-sentiment", "champion")
    assert (str(version.version), version.run_id) == ("1", lstm)
    assert version.tags["family"] == "lstm"
    assert version.tags["run_id"] == lstm
    assert version.tags["selected_by"] == "best_val_accuracy"
    record = json.loads((models_dir(results) / "lstm" / "mlflow.json").read_text())
    assert version.source == record["model_uri"]


def test_registers_in_the_stage_store_from_any_working_directory(
    results: tuple[Path, Path, Path], store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a queued ``dvc exp run``: no MLFLOW_TRACKING_URI, the store under $DVC_ROOT, the
    stage in a temporary workspace (MLflow's own default would be its ``mlflow.db``)."""
    log_training_run("lstm", sentiment_metrics("lstm"), models_dir=models_dir(results))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    mlflow.set_tracking_uri(None)
    (tmp_path / "workspace").mkdir()
    monkeypatch.chdir(tmp_path / "workspace")
    assert run(results)["version"] == "1"
    assert not (tmp_path / "workspace" / "mlflow.db").exists()


def test_rerun_keeps_the_champion_version_then_moves_the_alias(
    results: tuple[Path, Path, Path], store: str
) -> None:
    log_training_run("lstm", sentiment_metrics("lstm"), models_dir=models_dir(results))
    assert run(results)["version"] == "1"
    assert run(results)["version"] == "1"  # same model: no new version

    # tfidf_logreg retrained with a better validation accuracy takes over.
    better = {**sentiment_metrics("tfidf_logreg"), "best_val_accuracy": 0.95}
    write_history(results[0] / "history" / "tfidf_logreg.csv", 0.95, epochs=1)
    tfidf = log_training_run("tfidf_logreg", better, models_dir=models_dir(results))
    assert run(results) == {"champion": "tfidf_logreg", "version": "2", "run_id": tfidf}
    client = MlflowClient(store, store)
    assert client.get_model_version_by_alias("imdb-sentiment", "champion").run_id == tfidf
    assert client.get_model_version("imdb-sentiment", "1").aliases == []


def test_no_record_of_the_champion_fails_before_writing(
    results: tuple[Path, Path, Path], store: str
) -> None:
    log_training_run("tfidf_logreg", sentiment_metrics("tfidf_logreg"),
                     models_dir=models_dir(results))
    with pytest.raises(RegistryError) as exc:
        run(results)
    record = models_dir(results) / "lstm" / "mlflow.json"
    assert str(exc.value) == f"{record} is missing (run: dvc repro train@lstm)"
    assert not (results[0] / "summary.md").exists()


def test_champion_run_missing_from_the_store_fails_before_writing(
    results: tuple[Path, Path, Path], store: str, tmp_path: Path
) -> None:
    """Outputs restored from DVC's run cache (or pulled) name a run of another store."""
    log_training_run("lstm", sentiment_metrics("lstm"), models_dir=models_dir(results))
    record = json.loads((models_dir(results) / "lstm" / "mlflow.json").read_text())
    other = f"sqlite:///{tmp_path / 'other.db'}"
    mlflow.set_tracking_uri(other)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", other)
        with pytest.raises(RegistryError) as exc:
            run(results)
    assert str(exc.value) == (
        f"the MLflow run {record['run_id']} of train@lstm (models/lstm/mlflow.json) is not a "
        f"FINISHED run with model {record['model_id']} in {other} (restored from DVC's run "
        "cache or pulled?); train it again: dvc repro -f -s train@lstm"
    )
    assert not (results[0] / "summary.md").exists()
    assert not (results[1] / "comparison.png").exists()


def drop_column(path: Path, column: str) -> None:
    pd.read_csv(path).drop(columns=column).to_csv(path, index=False)


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        ("predictions/lstm.npz", None,
         "predictions/lstm.npz is missing (run: dvc repro train@lstm)"),
        ("history/lstm.csv", None, "history/lstm.csv is missing (run: dvc repro train@lstm)"),
        ("history/lstm.csv", "accuracy", "history/lstm.csv: missing column 'accuracy'"),
        ("seq2seq.json", None,
         "seq2seq.json is missing (run: dvc repro train_translator@seq2seq)"),
        ("seq2seq.json", {"exact_match": "1.0"},
         "seq2seq.json: metric 'exact_match' is not a finite number: '1.0'"),
        ("seq2seq.json", {"loss": float("inf")},
         "seq2seq.json: metric 'loss' is not a finite number: inf"),
    ],
)
def test_bad_inputs_name_the_file_and_target(
    results: tuple[Path, Path, Path], store: str, path: str, change: object, message: str
) -> None:
    target = results[0] / path
    if change is None:
        target.unlink()
    elif isinstance(change, str):
        drop_column(target, change)
    else:
        target.write_text(json.dumps(json.loads(target.read_text()) | change))
    with pytest.raises(compare.CompareError) as exc:
        run(results)
    assert str(exc.value) == f"{results[0]}/{message}"


def test_the_scores_are_the_predictions_and_the_best_epoch(
    results: tuple[Path, Path, Path],
) -> None:
    """What compare reports of a family equals what its training stage wrote to its metrics
    file, computed again from the same predictions."""
    metrics_dir = results[0]
    history = compare.read_history(metrics_dir / "history" / "lstm.csv", "train@lstm")
    predictions = compare.read_predictions(metrics_dir / "predictions" / "lstm.npz", "train@lstm")
    expected = sentiment_metrics("lstm")
    scores = compare.test_scores(predictions, history)
    assert scores == pytest.approx({key: expected[key] for key in scores}, rel=1e-12)
    assert scores["best_val_accuracy"] == 0.92


def test_a_history_without_validation_has_no_selection_score(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.7,0.6,,\n1,0.8,0.5,,\n")
    history = compare.read_history(path, "train@seed")
    assert list(history.columns) == ["epoch", "accuracy", "loss"]
    labels = np.array([0, 1]), np.array([0.2, 0.7])
    assert math.isnan(compare.test_scores(labels, history)["best_val_accuracy"])


def test_family_without_validation_score_is_listed_but_never_champion() -> None:
    metrics = {"a": {"accuracy": 0.99, "best_val_accuracy": math.nan},
               "b": {"accuracy": 0.80, "best_val_accuracy": 0.81}}
    assert compare.choose_champion(metrics) == "b"
    with pytest.raises(compare.CompareError, match="no sentiment family reports"):
        compare.choose_champion({"a": metrics["a"]})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"accuracy": 2.0}, "reference accuracy must be in [0, 1], got 2.0"),
        ({"accuracy": 0.9, "confusion": {"tn": 1}},
         "reference confusion needs exactly tn, fp, fn, tp"),
    ],
)
def test_a_bad_reference_is_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        Reference(source="s", anchor="x", **fields)
    assert str(exc.value) == message


def test_the_configured_families_are_compared_with_their_modules_references() -> None:
    refs = compare.references()
    assert list(refs["sentiment"])[:2] == ["transformer_seed", "lstm"]
    assert refs["sentiment"]["transformer_seed"].confusion == {
        "tn": 10780, "fp": 1720, "fn": 4456, "tp": 8044}
    assert refs["translation"]["seq2seq_attention"].anchor == "110/110 exact"
