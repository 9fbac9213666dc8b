"""train_translator.run on a tiny fixture: outputs, memorization, MLflow run content, predict."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from stages import tokenize_translate, train_translator
from stages.commands import predict
from stages.common.params import Params, ParamsError
from stages.families import registry
from stages.families.registry import parse_params, translator_families
from stages.tracking import lineage
from stages.tracking.store import TrackingError
from tests.conftest import sqlite_store
from tests.translate_fixtures import PAIRS, write_translate_csv

FAMILIES = tuple(translator_families())
EPOCHS = 40
FAMILY_PARAMS = {
    "seed": 0,
    "embedding_dim": 16,
    "units": 32,
    "epochs": EPOCHS,
    "batch_size": 4,
    "learning_rate": 0.05,
}


def _params(families: tuple[str, ...] = FAMILIES) -> Params:
    return parse_params(
        {
            "base": {"seed": 0, "glove_dim": 50},
            "prepare_imdb": {"val_fraction": 0.2},
            "embeddings": {"oov": "zero"},
            "train": {},
            "translate": {family: dict(FAMILY_PARAMS) for family in families},
        }
    )


def _dirs(root: Path) -> dict[str, Path]:
    return {
        "data_dir": root / "prepared",
        "models_dir": root / "models",
        "metrics_dir": root / "metrics",
        "plots_dir": root / "metrics" / "plots",
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Both families trained once on the tiny fixture, logged to a temporary MLflow store."""
    root = tmp_path_factory.mktemp("translator")
    write_translate_csv(root / "raw")
    dirs = _dirs(root)
    tokenize_translate.run(
        raw_dir=root / "raw", out_dir=dirs["data_dir"], metrics_dir=root / "data_metrics"
    )
    store = sqlite_store(root / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store)
        metrics = {family: train_translator.run(_params(), family, **dirs) for family in FAMILIES}
        yield {"root": root, "dirs": dirs, "store": store, "metrics": metrics}


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_translations_memorize_the_fixture(trained: dict, family: str) -> None:
    metrics = trained["metrics"][family]
    assert metrics["exact_match"] == 1.0
    assert metrics["char_accuracy"] == 1.0
    assert 0 < metrics["loss"] < 0.1
    written = json.loads((trained["dirs"]["metrics_dir"] / f"{family}.json").read_text())
    assert written == metrics


@pytest.mark.parametrize("family", FAMILIES)
def test_model_and_plot_outputs(trained: dict, family: str) -> None:
    dirs = trained["dirs"]
    assert sorted(p.name for p in (dirs["models_dir"] / family).iterdir()) == [
        "model.keras",
        "vocab.json",
    ]
    plots = dirs["plots_dir"] / family
    heatmap = ["attention.png"] if family == "seq2seq_attention" else []
    assert sorted(p.name for p in plots.iterdir()) == [*heatmap, "history.csv"]
    with open(plots / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == EPOCHS
    assert list(rows[0]) == ["epoch", "accuracy", "loss"]
    assert float(rows[-1]["loss"]) == trained["metrics"][family]["loss"]


@pytest.mark.parametrize("family", FAMILIES)
def test_mlflow_run_has_params_metrics_tags_and_artifacts(
    trained: dict, family: str, tmp_path: Path
) -> None:
    client = MlflowClient(trained["store"])
    experiment = client.get_experiment_by_name("translation")
    assert experiment.artifact_location == (trained["root"] / "mlartifacts/translation").as_uri()
    (run,) = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_name = '{family}'"
    )
    assert run.info.status == "FINISHED"
    assert run.data.params == {key: str(value) for key, value in FAMILY_PARAMS.items()}
    assert run.data.tags["dvc_stage"] == f"train_translator@{family}"
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == Path(trained["dirs"]["data_dir"]).resolve().as_posix()
    assert dataset.digest == lineage.dvc_md5(trained["dirs"]["data_dir"])
    assert run.data.metrics["exact_match"] == 1.0
    assert run.data.metrics["char_accuracy"] == 1.0
    assert run.data.metrics["train_seconds"] > 0
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in loss] == list(range(EPOCHS))
    assert loss[-1].value == pytest.approx(trained["metrics"][family]["loss"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "translations.json" in artifacts
    assert ("plots" in artifacts) == (family == "seq2seq_attention")
    local = client.download_artifacts(run.info.run_id, "translations.json", str(tmp_path))
    table = json.loads(Path(local).read_text(encoding="utf-8"))
    assert table["columns"] == ["english", "korean", "predicted", "correct"]
    assert [row[2] for row in table["data"]] == [ko for _, ko in PAIRS]
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert run.info.run_id in {m.source_run_id for m in models}


@pytest.mark.parametrize("family", FAMILIES)
def test_predict_translates_with_trained_model(
    trained: dict, family: str, capsys: pytest.CaptureFixture[str]
) -> None:
    models_dir = trained["dirs"]["models_dir"]
    assert predict.translate(["cab", "AB"], family=family, models_dir=models_dir) == [
        "가다나",
        "가나",
    ]
    argv = ["translate", "ba", "abc", "--family", family, "--models-dir", str(models_dir)]
    assert predict.main(argv) == 0
    assert capsys.readouterr().out == "ba\t나가\nabc\t다\n"


def test_unreachable_tracking_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: dict
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    dirs = {**_dirs(tmp_path), "data_dir": trained["dirs"]["data_dir"]}
    with pytest.raises(TrackingError, match="http://127.0.0.1:9 is unreachable"):
        train_translator.run(_params(), "seq2seq", **dirs)
    assert not (tmp_path / "models").exists()
    assert not (tmp_path / "metrics").exists()


def test_family_missing_from_params_is_named() -> None:
    with pytest.raises(ParamsError) as err:
        registry.family_params(_params(("seq2seq",)), "seq2seq_attention")
    assert str(err.value) == (
        "params: translate.seq2seq_attention: no such family (configured: seq2seq)"
    )
