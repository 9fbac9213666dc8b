"""compare.run on fixture metrics files and runs in a temporary MLflow store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from PIL import Image

from stages import compare
from stages.evaluation.references import Reference, ReferencesError, load_references
from stages.tracking.model_registry import RegistryError
from tests.compare_fixtures import (
    REFERENCES,
    log_training_run,
    sentiment_metrics,
    write_references,
    write_results,
)

LEADERBOARD = """\
|   rank | family           |   accuracy |       95 % CI |     F1 |   ROC AUC |     tn |    fp |    fn |     tp |   val. accuracy |   training s |   parameters | reference                                |   vs reference |
|-------:|:-----------------|-----------:|--------------:|-------:|----------:|-------:|------:|------:|-------:|----------------:|-------------:|-------------:|:-----------------------------------------|---------------:|
|      1 | tfidf_logreg     |    0.90120 | 0.8973-0.9049 | 0.9009 |    0.9612 | 11,300 | 1,200 | 1,270 | 11,230 |          0.9100 |         33.1 |    1,613,432 | 0.89-0.90                                |       +0.01120 |
|      2 | lstm (champion)  |    0.88000 | 0.8758-0.8840 | 0.8800 |    0.9431 | 11,000 | 1,500 | 1,500 | 11,000 |          0.9200 |        140.2 |    1,293,345 | >= 0.87                                  |       +0.01000 |
|      3 | transformer      |    0.87000 | 0.8656-0.8740 | 0.8697 |    0.9350 | 10,900 | 1,600 | 1,650 | 10,850 |          0.8900 |        630.0 |    1,360,001 | 0.875 (no positions) / 0.883 (positions) |       -0.01300 |
|      4 | glove_bilstm     |    0.85000 | 0.8455-0.8545 | 0.8515 |    0.9204 | 10,500 | 2,000 | 1,750 | 10,750 |          0.8600 |      1,234.5 |       34,113 | ~ 0.87                                   |       -0.02000 |
|      5 | transformer_seed |    0.75296 | 0.7473-0.7583 | 0.7226 |    0.8312 | 10,780 | 1,720 | 4,456 |  8,044 |          0.7801 |         98.8 |      344,418 | 0.75296                                  |       +0.00000 |
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
    metrics_dir.mkdir()
    write_results(metrics_dir, plots_dir, tmp_path / "models")
    return metrics_dir, plots_dir, tmp_path / "models"


def run(results: tuple[Path, Path, Path]) -> dict[str, str]:
    references = write_references(results[0].parent / "references.yaml")
    return compare.run(references_path=references, metrics_dir=results[0], plots_dir=results[1],
                       models_dir=models_dir(results))


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
    (results[0] / "tfidf_logreg.json").write_text(json.dumps(better))
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


DROP = object()


@pytest.mark.parametrize(
    ("family", "change", "message"),
    [
        ("lstm", None, "lstm.json is missing (run: dvc repro train@lstm)"),
        ("seq2seq", None, "seq2seq.json is missing (run: dvc repro train_translator@seq2seq)"),
        ("lstm", {"accuracy": DROP},
         "lstm.json: missing metric 'accuracy' (rerun: dvc repro train@lstm)"),
        ("lstm", {"best_val_accuracy": float("inf")},
         "lstm.json: metric 'best_val_accuracy' is not a finite number: inf"),
        ("lstm", {"f1": None}, "lstm.json: metric 'f1' is not a finite number: None"),
        ("seq2seq", {"exact_match": "1.0"},
         "seq2seq.json: metric 'exact_match' is not a finite number: '1.0'"),
    ],
)
def test_bad_metrics_files_name_the_file_and_target(
    results: tuple[Path, Path, Path], store: str, family: str, change: dict | None, message: str
) -> None:
    path = results[0] / f"{family}.json"
    if change is None:
        path.unlink()
    else:
        metrics = json.loads(path.read_text()) | change
        path.write_text(json.dumps({k: v for k, v in metrics.items() if v is not DROP}))
    with pytest.raises(compare.CompareError) as exc:
        run(results)
    assert str(exc.value) == f"{results[0]}/{message}"


def test_family_without_validation_score_is_listed_but_never_champion() -> None:
    metrics = {"a": {"accuracy": 0.99, "best_val_accuracy": math.nan},
               "b": {"accuracy": 0.80, "best_val_accuracy": 0.81}}
    assert compare.choose_champion(metrics) == "b"
    with pytest.raises(compare.CompareError, match="no sentiment family reports"):
        compare.choose_champion({"a": metrics["a"]})


def test_the_fixture_references_load_as_written(tmp_path: Path) -> None:
    refs = load_references(write_references(tmp_path / "references.yaml"))
    assert {task: list(task_refs) for task, task_refs in refs.items()} == {
        task: list(task_refs) for task, task_refs in REFERENCES.items()}
    assert refs["sentiment"]["transformer_seed"].confusion == {
        "tn": 10780, "fp": 1720, "fn": 4456, "tp": 8044,
    }
    assert refs["sentiment"]["lstm"] == Reference(*REFERENCES["sentiment"]["lstm"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sentiment: {}\n", "top-level keys must be sentiment, translation"),
        ("sentiment: {}\ntranslation: {a: {source: s, anchor: x, accuracy: 1}}\n",
         "sentiment: must map family names to references"),
        ("sentiment: {a: {source: s, anchor: x, accuracy: 2}}\n"
         "translation: {b: {source: s, anchor: x, accuracy: 1}}\n",
         "sentiment.a.accuracy: must be a number in [0, 1]"),
        ("sentiment: {a: {source: s, anchor: x}}\n"
         "translation: {b: {source: s, anchor: x, accuracy: 1}}\n",
         "sentiment.a: Reference.__init__() missing 1 required positional argument: 'accuracy'"),
    ],
)
def test_bad_references_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "references.yaml"
    path.write_text(text)
    with pytest.raises(ReferencesError) as exc:
        load_references(path)
    assert str(exc.value) == f"{path}: {message}"
