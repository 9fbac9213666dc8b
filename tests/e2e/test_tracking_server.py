"""A tiny translator logged over HTTP to a real ``mlflow server`` (sqlite backend, proxied
artifact store) on 127.0.0.1, then read back through the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from stages import tokenize_translate, train_translator
from stages.models.registry import parse_params
from tests.mlflow_server import running_mlflow
from tests.repo_fixtures import TINY_TRANSLATOR
from tests.translate_fixtures import write_translate_csv

pytestmark = pytest.mark.e2e


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(uri, artifacts directory)`` of a running server; stopped at the end no matter what."""
    store = tmp_path / "server"
    store.mkdir()
    with running_mlflow(
        "server",
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
        "--workers", "1",
        workdir=store,
    ) as uri:
        yield uri, store / "artifacts"


def test_translator_run_logged_to_tracking_server_over_http(
    mlflow_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, artifacts_dir = mlflow_server
    write_translate_csv(tmp_path / "raw")
    data_dir = tmp_path / "prepared"
    tokenize_translate.run(raw_dir=tmp_path / "raw", out_dir=data_dir,
                           metrics_dir=tmp_path / "metrics")
    params = parse_params({
        "base": {"seed": 0, "glove_dim": 50}, "prepare_imdb": {"val_fraction": 0.2},
        "embeddings": {"oov": "zero"}, "train": {}, "translate": {"seq2seq": TINY_TRANSLATOR},
    })
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    metrics = train_translator.run(
        params, "seq2seq", data_dir=data_dir, models_dir=tmp_path / "models",
        metrics_dir=tmp_path / "metrics", plots_dir=tmp_path / "plots",
    )

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("translation")
    assert experiment.artifact_location.startswith("mlflow-artifacts:/")  # proxied by the server
    (run,) = client.search_runs([experiment.experiment_id])
    assert (run.info.run_name, run.info.status) == ("seq2seq", "FINISHED")
    assert run.data.params == {key: str(value) for key, value in TINY_TRANSLATOR.items()}
    assert run.data.tags["dvc_stage"] == "train_translator@seq2seq"
    assert run.data.metrics["exact_match"] == metrics["exact_match"]
    assert run.data.metrics["char_accuracy"] == metrics["char_accuracy"]
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in loss] == list(range(TINY_TRANSLATOR["epochs"]))
    assert loss[-1].value == pytest.approx(metrics["loss"])
    assert "translations.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert [m.source_run_id for m in models] == [run.info.run_id]
    # The artifacts went through the server into its store (nothing written client-side).
    stored = {p.relative_to(artifacts_dir).as_posix() for p in artifacts_dir.rglob("*.*")}
    exp_id, run_id, model_id = experiment.experiment_id, run.info.run_id, models[0].model_id
    assert f"{exp_id}/{run_id}/artifacts/translations.json" in stored
    assert f"{exp_id}/models/{model_id}/artifacts/data/model.keras" in stored
    assert not (tmp_path / "mlartifacts").exists()
