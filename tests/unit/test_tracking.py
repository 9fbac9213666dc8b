"""MLflow tracking helpers against a temporary sqlite store."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from stages.common import tracking
from stages.common.paths import REPO_ROOT
from stages.common.tracking import TrackingError


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _start(**overrides: object) -> object:
    kwargs = {
        "experiment": "unit",
        "run_name": "fam",
        "stage": "train@fam",
        "params": {"seed": 1, "model": {"units": 8, "act": "relu"}},
        "dataset_fingerprint": "abc123",
    }
    kwargs.update(overrides)
    return tracking.tracking_run(**kwargs)


def test_tracking_uri_defaults_to_dvc_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.delenv("DVC_ROOT")
    assert tracking.tracking_uri() == f"sqlite:///{REPO_ROOT}/mlflow.db"


def test_tracking_uri_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_ROOT", "/somewhere")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000"


def test_flatten_nested_params() -> None:
    flat = tracking.flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}})
    assert flat == {"a": 1, "b.c": 2, "b.d.e": "x"}


def test_run_has_params_tags_metrics_and_artifact_location(store: str, tmp_path: Path) -> None:
    with _start() as run:
        callback = tracking.epoch_metrics_callback()
        callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
        callback.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.6})
    client = MlflowClient(store)
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "fam"
    assert got.data.params == {"seed": "1", "model.units": "8", "model.act": "relu"}
    assert got.data.tags["dvc_stage"] == "train@fam"
    assert got.data.tags["dataset_fingerprint"] == "abc123"
    assert len(got.data.tags["git_commit"]) == 40
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25)]
    val = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in val] == [(0, 0.7), (1, 0.6)]
    experiment = client.get_experiment_by_name("unit")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "unit").as_uri()


def test_epoch_callback_needs_active_run() -> None:
    with pytest.raises(TrackingError, match=r"needs an active run \(use tracking_run\)"):
        tracking.epoch_metrics_callback()


def test_second_run_reuses_experiment(store: str) -> None:
    with _start() as first:
        pass
    with _start(run_name="other") as second:
        pass
    assert first.info.experiment_id == second.info.experiment_id
    assert not mlflow.active_run()


def test_exception_marks_run_failed_and_propagates(store: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with _start() as run:
            raise RuntimeError("boom")
    assert MlflowClient(store).get_run(run.info.run_id).info.status == "FAILED"
    assert not mlflow.active_run()


def test_git_commit_unknown_outside_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracking, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert tracking.git_commit() == "unknown"


def test_unreachable_server_fails_fast() -> None:
    with pytest.raises(TrackingError) as err:
        tracking.check_tracking("http://127.0.0.1:9")
    assert str(err.value) == (
        "MLflow tracking server http://127.0.0.1:9 is unreachable (ConnectionError); "
        "start it or unset MLFLOW_TRACKING_URI to use the local sqlite store"
    )


@pytest.fixture
def not_mlflow_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_server_without_health_endpoint_fails(not_mlflow_server: str) -> None:
    with pytest.raises(TrackingError) as err:
        tracking.check_tracking(not_mlflow_server)
    assert str(err.value) == (
        f"MLflow tracking server {not_mlflow_server} answered HTTP 501 "
        f"at {not_mlflow_server}/health"
    )


def test_invalid_scheme_fails() -> None:
    with pytest.raises(TrackingError) as err:
        tracking.check_tracking("foo://x")
    assert str(err.value) == (
        "MLflow tracking URI 'foo://x': unsupported scheme 'foo' (use one of: http://, https://, "
        "sqlite://, postgresql://, mysql://, mssql://)"
    )


def test_plain_path_is_rejected() -> None:
    with pytest.raises(TrackingError, match=r"unsupported scheme ''"):
        tracking.check_tracking("./mlruns")


def test_sqlite_in_missing_directory_fails(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "mlflow.db"
    with pytest.raises(TrackingError) as err:
        tracking.check_tracking(f"sqlite:///{db}")
    assert str(err.value) == (
        f"MLflow sqlite store {db}: directory {tmp_path / 'missing'} does not exist"
    )


def test_bad_uri_fails_before_any_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://x")
    with pytest.raises(TrackingError, match="unsupported scheme 'foo'"):
        with _start():
            pytest.fail("the block must not run")


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("x")
    before = tracking.fingerprint(tmp_path / "d")
    assert before == tracking.fingerprint(tmp_path / "d")
    (tmp_path / "d" / "a.txt").write_text("y")
    assert tracking.fingerprint(tmp_path / "d") != before


def test_run_of_a_killed_process_is_marked_killed_by_the_next_run(store: str) -> None:
    script = (
        "import os, signal\n"
        "from stages.common import tracking\n"
        "with tracking.tracking_run(experiment='unit', run_name='fam', stage='train@fam',\n"
        "                           params={}, dataset_fingerprint='x') as run:\n"
        "    print(run.info.run_id, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    orphan = proc.stdout.split()[0]
    client = MlflowClient(store)
    assert client.get_run(orphan).info.status == "RUNNING"
    with _start(stage="train@other"):
        pass
    assert client.get_run(orphan).info.status == "RUNNING"  # another stage's run is left alone
    with _start() as run:
        pass
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
