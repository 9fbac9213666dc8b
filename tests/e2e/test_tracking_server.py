"""A tiny translator logged over HTTP to a real ``mlflow server`` (sqlite backend, proxied
artifact store) on 127.0.0.1, then read back through the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.tracking import MlflowClient

from stages import tokenize_translate, train_translator
from stages.common.params import parse_params
from tests.repo_fixtures import TINY_TRANSLATOR
from tests.translate_fixtures import write_translate_csv

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT_S = 120.0  # ~10 s on an idle 2-core machine, ~30 s under load
STOP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(uri: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{uri}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL whatever is left after STOP_TIMEOUT_S."""
    with_signal = signal.SIGTERM
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        try:
            os.killpg(proc.pid, with_signal)
        except ProcessLookupError:
            break  # the whole group is gone
        proc.poll()  # reap the leader so it does not linger as a zombie
        time.sleep(0.2)
        if time.monotonic() > deadline:
            with_signal = signal.SIGKILL
    proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(uri, artifacts directory)`` of a running server; stopped at the end no matter what."""
    store = tmp_path / "server"
    store.mkdir()
    uri = f"http://127.0.0.1:{_free_port()}"
    cmd = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
        "--host", "127.0.0.1", "--port", uri.rsplit(":", 1)[1], "--workers", "1",
    ]
    # No background job runner (six extra processes); this project does not use MLflow jobs.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    env.pop("MLFLOW_TRACKING_URI", None)
    log = store / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=store, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_until_healthy(uri, proc, log)
        yield uri, store / "artifacts"
    finally:
        _stop_group(proc)


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
