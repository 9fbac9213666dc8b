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
import yaml
from mlflow.tracking import MlflowClient

from stages.common.paths import REPO_ROOT
from stages.tracking import checks, keras_log, lineage, runs, store
from stages.tracking.store import TrackingError, experiment_id

HELLO_MD5 = "b1946ac92492d2347c6235b4d2611184"  # md5 of b"hello\n"




def _start(**overrides: object) -> object:
    kwargs = {
        "experiment": "unit",
        "run_name": "fam",
        "stage": "train@fam",
        "params": {"seed": 1, "model": {"units": 8, "act": "relu"}},
        "inputs": [],
    }
    kwargs.update(overrides)
    return runs.tracking_run(**kwargs)


def test_tracking_uri_defaults_to_dvc_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert store.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.delenv("DVC_ROOT")
    assert store.tracking_uri() == f"sqlite:///{REPO_ROOT}/mlflow.db"


def test_tracking_uri_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_ROOT", "/somewhere")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert store.tracking_uri() == "http://mlflow.example:5000"


def test_flatten_nested_params() -> None:
    flat = runs.flatten({"a": 1, "b": {"c": 2, "d": {"e": "x"}}})
    assert flat == {"a": 1, "b.c": 2, "b.d.e": "x"}


def test_run_has_params_tags_metrics_and_artifact_location(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    (tmp_path / "train.txt").write_text("hello\n")
    with _start(inputs=[tmp_path / "train.txt"]) as run:
        callback = keras_log.epoch_metrics_callback()
        callback.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.7})
        callback.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.6})
    client = MlflowClient(store)
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "fam"
    assert got.data.params == {"seed": "1", "model.units": "8", "model.act": "relu"}
    assert got.data.tags["dvc_stage"] == "train@fam"
    assert not {"dvc_exp_name", "dvc_exp_baseline_rev", "git_commit"} & set(got.data.tags)
    (logged,) = got.inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == (str(tmp_path / "train.txt"), HELLO_MD5)
    assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "training")]
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25)]
    val = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in val] == [(0, 0.7), (1, 0.6)]
    experiment = client.get_experiment_by_name("unit")
    assert experiment.artifact_location == (tmp_path / "mlartifacts" / "unit").as_uri()


def test_epoch_callback_needs_active_run() -> None:
    with pytest.raises(TrackingError, match=r"needs an active run \(use tracking_run\)"):
        keras_log.epoch_metrics_callback()


def test_second_run_reuses_experiment(store: str) -> None:
    with _start() as first:
        pass
    with _start(run_name="other") as second:
        pass
    assert first.info.experiment_id == second.info.experiment_id
    assert not mlflow.active_run()


def test_experiments_are_model_training_ones_and_keep_an_edited_description(
    store: str,
) -> None:
    old = mlflow.create_experiment("sentiment")  # as a store made before these tags
    assert experiment_id("sentiment", store) == old
    tags = MlflowClient(store).get_experiment(old).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert "`metrics/summary.md`" in tags["mlflow.note.content"]
    MlflowClient(store).set_experiment_tag(old, "mlflow.note.content", "mine")
    experiment_id("sentiment", store)
    assert MlflowClient(store).get_experiment(old).tags["mlflow.note.content"] == "mine"
    new = experiment_id("translation", store)
    assert MlflowClient(store).get_experiment(new).tags["mlflow.experimentKind"] == (
        "custom_model_development")


def test_database_that_is_down_fails_fast_without_its_password() -> None:
    with pytest.raises(TrackingError) as err:
        checks.check_tracking("postgresql+psycopg://mlflow:s3cret@127.0.0.1:9/mlflow")
    assert str(err.value) == (
        "MLflow tracking store postgresql+psycopg://mlflow:***@127.0.0.1:9/mlflow is unusable "
        '(OperationalError: connection failed: connection to server at "127.0.0.1", port 9 '
        "failed: Connection refused)"
    )


def test_exception_marks_run_failed_and_propagates(store: str) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with _start() as run:
            raise RuntimeError("boom")
    assert MlflowClient(store).get_run(run.info.run_id).info.status == "FAILED"
    assert not mlflow.active_run()


def test_experiment_tags_come_from_dvc_env(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_EXP_NAME", "exp-a")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "f" * 40)
    with _start() as run:
        pass
    tags = MlflowClient(store).get_run(run.info.run_id).data.tags
    assert (tags["dvc_exp_name"], tags["dvc_exp_baseline_rev"]) == ("exp-a", "f" * 40)


def test_unreachable_server_fails_fast() -> None:
    with pytest.raises(TrackingError) as err:
        checks.check_tracking("http://127.0.0.1:9")
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
        checks.check_tracking(not_mlflow_server)
    assert str(err.value) == (
        f"MLflow tracking server {not_mlflow_server} answered HTTP 501 "
        f"at {not_mlflow_server}/health"
    )


def test_invalid_scheme_fails() -> None:
    with pytest.raises(TrackingError) as err:
        checks.check_tracking("foo://x")
    assert str(err.value) == (
        "MLflow tracking URI 'foo://x': unsupported scheme 'foo' (use one of: http://, https://, "
        "sqlite://, postgresql://, mysql://, mssql://)"
    )


def test_plain_path_is_rejected() -> None:
    with pytest.raises(TrackingError, match=r"unsupported scheme ''"):
        checks.check_tracking("./mlruns")


def test_sqlite_in_missing_directory_fails(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "mlflow.db"
    with pytest.raises(TrackingError) as err:
        checks.check_tracking(f"sqlite:///{db}")
    assert str(err.value) == (
        f"MLflow sqlite store {db}: directory {tmp_path / 'missing'} does not exist"
    )


def test_bad_uri_fails_before_any_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://x")
    with pytest.raises(TrackingError, match="unsupported scheme 'foo'"):
        with _start():
            pytest.fail("the block must not run")


def test_dvc_md5_equals_what_dvc_add_records(tmp_path: Path) -> None:
    # the md5s `dvc add d f.txt` (DVC 3.67) wrote to d.dvc and f.txt.dvc for these contents
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("x")
    (tmp_path / "d" / "sub" / "b.txt").write_text("y")
    (tmp_path / "f.txt").write_text("hello\n")
    assert lineage.dvc_md5(tmp_path / "d") == "c0f61b7d3ba88476c1ea19e32af79e29.dir"
    assert lineage.dvc_md5(tmp_path / "f.txt") == HELLO_MD5


def _lock(root: Path, stages: dict) -> None:
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))


def test_input_digest_prefers_upstream_outs_over_own_stale_deps(tmp_path: Path) -> None:
    (tmp_path / "data" / "prep").mkdir(parents=True)
    (tmp_path / "data" / "prep" / "x.npz").write_bytes(b"x")
    (tmp_path / "data" / "prep" / "y.npz").write_bytes(b"y")
    (tmp_path / "data" / "emb.npy").write_bytes(b"e")
    (tmp_path / "data" / "extra.csv").write_text("hello\n")
    _lock(tmp_path, {
        "prep": {"outs": [{"path": "data/prep", "md5": "fresh.dir"}]},
        "train@fam": {"deps": [{"path": "data/prep", "md5": "stale.dir"},
                               {"path": "data/emb.npy", "md5": "emb"}]},
        "train@other": {"deps": [{"path": "data/extra.csv", "md5": "not-this-stage"}]},
    })
    paths = [tmp_path / "data" / "prep" / "x.npz", tmp_path / "data" / "prep" / "y.npz",
             tmp_path / "data" / "emb.npy", tmp_path / "data" / "extra.csv"]
    datasets = lineage.input_datasets(paths, stage="train@fam", root=tmp_path)
    assert [(d.name, d.digest, d.source.to_dict()) for d in datasets] == [
        ("data/prep", "fresh.dir", {"uri": "data/prep"}),
        ("data/emb.npy", "emb", {"uri": "data/emb.npy"}),
        ("data/extra.csv", HELLO_MD5, {"uri": "data/extra.csv"}),
    ]


def test_input_outside_the_repo_is_named_by_its_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "in.txt").write_text("hello\n")
    (dataset,) = lineage.input_datasets([tmp_path / "in.txt"], stage="s", root=tmp_path / "repo")
    assert (dataset.name, dataset.digest) == (str(tmp_path / "in.txt"), HELLO_MD5)


def test_run_of_a_killed_process_is_marked_killed_by_the_next_run(store: str) -> None:
    script = (
        "import os, signal\n"
        "from stages.tracking import keras_log, lineage, runs, store\n"
        "with runs.tracking_run(experiment='unit', run_name='fam', stage='train@fam',\n"
        "                           params={}, inputs=[]) as run:\n"
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
