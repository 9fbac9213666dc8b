"""train_classifier.run on the synthetic fixture: outputs, metrics, MLflow run, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from stages import train_classifier
from stages.common.params import ParamsError
from stages.common.paths import PARAMS_FILE
from stages.data.standardize import standardize_texts
from stages.data.vectorized import load_split
from stages.evaluation.metrics import compute_metrics
from stages.families.registry import parse_params
from stages.models.textmodel import positive_probability
from stages.tracking.store import TrackingError
from tests.classifier_fixtures import SIZES, tiny_params, tiny_train, write_prepared
from tests.conftest import REPO_ROOT

METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc", "loss", "tn", "fp", "fn", "tp"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared"))




# The variants these tests train, beside the params.yaml choices the unit tests build.
VARIANTS = {
    "lstm": {"pooling": "last", "bigram_buckets": 0},
    "glove_bilstm": {"frozen_epochs": 1},
    "transformer": {"position": "sinusoidal", "dropout": 0.1},
}


def all_params(**family_overrides: dict) -> object:
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw["train"] = tiny_train(**family_overrides)
    return parse_params(raw)


def run(family: str, prepared: Path, out: Path, **overrides: object) -> dict:
    return train_classifier.run(
        all_params(**{family: {**VARIANTS.get(family, {}), **overrides}}),
        family,
        inputs=train_classifier.Inputs(
            prepared / "vectorized", prepared / "embeddings.npy", prepared / "imdb"
        ),
        outputs=train_classifier.Outputs(out / "models", out / "metrics", out / "plots"),
    )


def check_metrics_file(path: Path) -> dict:
    """Test metrics and the selection score only: run facts would make every diff noisy."""
    metrics = json.loads(path.read_text())
    assert set(metrics) == METRIC_KEYS | {"best_val_accuracy"}
    assert metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"] == SIZES["test"]
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["loss"] > 0
    return metrics


def check_run_facts(path: Path, run_id: str) -> None:
    facts = json.loads(path.read_text())
    assert facts["training_seconds"] > 0 and facts["param_count"] > 0
    assert facts["mlflow_run_id"] == run_id


def check_predictions(path: Path, metrics: dict) -> None:
    """The kept test predictions reproduce the test metrics exactly."""
    with np.load(path) as npz:
        assert npz["label"].dtype == np.int8 and npz["probability"].dtype == np.float64
        assert compute_metrics(npz["label"], npz["probability"]) == {
            k: v for k, v in metrics.items() if k != "best_val_accuracy"}


def test_lstm_learns_writes_outputs_and_logs_one_mlflow_run(
    prepared: Path, tmp_path: Path, store: str
) -> None:
    metrics = run("lstm", prepared, tmp_path)
    assert metrics["accuracy"] >= 0.8  # chance is 0.5
    assert check_metrics_file(tmp_path / "metrics" / "lstm.json") == pytest.approx(metrics)
    assert (tmp_path / "models" / "lstm" / "model.keras").is_file()
    preprocess = json.loads((tmp_path / "models" / "lstm" / "preprocess.json").read_text())
    assert preprocess == {"vocab_size": 40, "seq_len": 24, "padding": "pre", "truncating": "pre"}
    history = pd.read_csv(tmp_path / "metrics" / "history" / "lstm.csv")
    assert list(history["epoch"]) == list(range(tiny_params("lstm")["epochs"]))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    assert (tmp_path / "plots" / "lstm_confusion.png").read_bytes()[:4] == b"\x89PNG"

    client = MlflowClient(store)
    (run_,) = client.search_runs([client.get_experiment_by_name("sentiment").experiment_id])
    assert run_.info.run_name == "lstm" and run_.info.status == "FINISHED"
    assert run_.data.params["units"] == "8" and run_.data.params["padding"] == "pre"
    assert run_.data.tags["dvc_stage"] == "train@lstm"
    (dataset,) = [d.dataset for d in run_.inputs.dataset_inputs]  # the one input it reads
    assert dataset.name == (prepared / "vectorized").as_posix()
    assert run_.data.metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])
    val_steps = client.get_metric_history(run_.info.run_id, "val_accuracy")
    assert [m.step for m in val_steps] == list(range(len(history)))
    artifacts = {a.path for a in client.list_artifacts(run_.info.run_id, "plots")}
    assert artifacts == {"plots/lstm_confusion.png"}
    models = client.search_logged_models(experiment_ids=[run_.info.experiment_id])
    assert [m.source_run_id for m in models] == [run_.info.run_id]
    check_run_facts(tmp_path / "models" / "lstm" / "run.json", run_.info.run_id)
    check_predictions(tmp_path / "metrics" / "predictions" / "lstm.npz", metrics)
    assert run_.data.metrics["training_seconds"] > 0


def test_same_params_twice_give_the_same_metrics(
    prepared: Path, tmp_path: Path, store: str
) -> None:
    first = run("transformer", prepared, tmp_path / "a")
    second = run("transformer", prepared, tmp_path / "b")
    assert first["accuracy"] > 0.7
    for key in METRIC_KEYS:
        assert first[key] == second[key], key


def test_a_changed_seed_changes_the_metrics(prepared: Path, tmp_path: Path, store: str) -> None:
    first = run("lstm", prepared, tmp_path / "a")
    second = run("lstm", prepared, tmp_path / "b", seed=tiny_params("lstm")["seed"] + 1)
    assert first["loss"] != second["loss"]
    assert first["roc_auc"] != second["roc_auc"]


# Logical devices can only be configured before TF initialises its runtime: a fresh process.
MIRRORED_SCRIPT = """
import sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tests.stage.test_train_classifier import run
run("lstm", Path(sys.argv[1]), Path(sys.argv[2]), strategy="mirrored")
"""


def test_mirrored_strategy_trains_on_two_cpu_replicas(
    prepared: Path, tmp_path: Path, store: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(prepared), str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = check_metrics_file(tmp_path / "metrics" / "lstm.json")
    assert json.loads((tmp_path / "models" / "lstm" / "run.json").read_text())["replicas"] == 2
    assert metrics["accuracy"] > 0.7  # chance is 0.5
    model = keras.models.load_model(tmp_path / "models" / "lstm" / "model.keras")
    keys = ("vocab_size", "seq_len", "padding", "truncating")
    preprocess = {k: tiny_params("lstm")[k] for k in keys}
    x, y = load_split(prepared / "vectorized" / "test.npz", **preprocess)
    reloaded = compute_metrics(y, positive_probability(model.predict(x, verbose=0)))
    assert reloaded["accuracy"] == metrics["accuracy"]
    assert reloaded["loss"] == pytest.approx(metrics["loss"], rel=1e-5)


def test_glove_bilstm_warms_up_frozen_then_fine_tunes(
    prepared: Path, tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 frozen epoch of 3: the GloVe rows end epoch 0 exactly as loaded, then move."""
    from stages.families.glove_bilstm import FROZEN_LAYER
    from stages.tracking import keras_log

    glove: dict[int, np.ndarray] = {}  # epoch -> the embedding matrix it ended with
    per_epoch_logging = keras_log.epoch_metrics_callback

    def watching() -> keras.callbacks.Callback:
        inner = per_epoch_logging()  # still logs each epoch to MLflow

        def on_epoch_end(epoch: int, logs: dict | None = None) -> None:
            glove[epoch] = watch.model.get_layer(FROZEN_LAYER).get_weights()[0]
            inner.on_epoch_end(epoch, logs)

        watch = keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)
        return watch

    monkeypatch.setattr(keras_log, "epoch_metrics_callback", watching)
    run("glove_bilstm", prepared, tmp_path, patience=None)
    loaded = np.load(prepared / "embeddings.npy")[: tiny_params("glove_bilstm")["vocab_size"]]
    assert sorted(glove) == [0, 1, 2]
    assert np.array_equal(glove[0], loaded)  # frozen: not one bit moved
    assert not np.array_equal(glove[1], loaded)  # fine-tuning moves it
    assert not np.array_equal(glove[2], glove[1])
    saved = keras.models.load_model(tmp_path / "models" / "glove_bilstm" / "model.keras")
    assert np.array_equal(saved.get_layer(FROZEN_LAYER).get_weights()[0], glove[2])  # final
    history = pd.read_csv(tmp_path / "metrics" / "history" / "glove_bilstm.csv")
    assert list(history["epoch"]) == [0, 1, 2]
    check_metrics_file(tmp_path / "metrics" / "glove_bilstm.json")


def test_tfidf_logreg_metrics_match_its_saved_pipeline(
    prepared: Path, tmp_path: Path, store: str
) -> None:
    import joblib

    metrics = run("tfidf_logreg", prepared, tmp_path)
    assert check_metrics_file(tmp_path / "metrics" / "tfidf_logreg.json")["accuracy"] >= 0.9
    model = joblib.load(tmp_path / "models" / "tfidf_logreg" / "model.joblib")
    test = pd.read_parquet(prepared / "imdb" / "test.parquet")
    probs = model.predict_proba(standardize_texts(test["text"].tolist()))[:, 1]
    recomputed = compute_metrics(test["label"].to_numpy(), probs)
    assert recomputed == pytest.approx({k: metrics[k] for k in recomputed})
    assert "br" not in model["counts"].index_.tokens  # <br /> stripped like the rest
    client = MlflowClient(store)
    (run_,) = client.search_runs([client.get_experiment_by_name("sentiment").experiment_id])
    assert run_.data.params["ngram_max"] == "2"
    assert np.isfinite(run_.data.metrics["val_accuracy"])


def test_unconfigured_family_is_a_params_error(prepared: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw["train"] = {"lstm": tiny_params("lstm")}
    with pytest.raises(
        ParamsError, match=r"train\.transformer: no such family \(configured: lstm\)"
    ):
        train_classifier.run(parse_params(raw), "transformer")


def test_bad_tracking_uri_fails_before_training(
    prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/missing/dir/mlflow.db")
    with pytest.raises(TrackingError, match="does not exist"):
        run("lstm", prepared, tmp_path)
    assert not (tmp_path / "models").exists() and not (tmp_path / "metrics").exists()


def test_main_reports_a_params_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ParamsError("params: train.lstm.units: must be > 0, got 0")

    monkeypatch.setattr(train_classifier.registry, "load_params", broken)
    assert train_classifier.main(["--family", "lstm"]) == 1


def test_train_on_val_fits_both_splits_and_keeps_final_weights(
    prepared: Path, tmp_path: Path, store: str
) -> None:
    metrics = run("transformer_seed", prepared, tmp_path, patience=None, train_on_val=True)
    history = pd.read_csv(tmp_path / "metrics" / "history" / "transformer_seed.csv")
    assert list(history.columns) == [
        "epoch", "accuracy", "loss", "val_accuracy", "val_loss", "epoch_seconds"]
    assert history[["val_accuracy", "val_loss"]].isna().all().all()  # validated on nothing
    facts = json.loads((tmp_path / "models" / "transformer_seed" / "run.json").read_text())
    epochs = tiny_params("transformer_seed")["epochs"]
    assert facts["epochs_run"] == facts["best_epoch"] + 1 == epochs
    assert "best_val_accuracy" not in metrics
    saved = json.loads((tmp_path / "metrics" / "transformer_seed.json").read_text())
    assert set(saved) == METRIC_KEYS


def test_train_on_val_with_early_stopping_is_rejected() -> None:
    with pytest.raises(
        ParamsError, match=r"train\.lstm\.train_on_val: early stopping needs the val split"
    ):
        all_params(lstm={"train_on_val": True, "patience": 1})
