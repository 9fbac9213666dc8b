"""``nlp-predict sentiment`` on tiny trained families: the CLI's probabilities are
the ones the test metrics were computed from; input and model errors are one clear line."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import joblib
import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from stages.commands import predict
from stages.common.constants import PREDICT_BATCH
from stages.data.vectorized import load_split
from stages.evaluation.metrics import compute_metrics
from stages.families.registry import sentiment_families
from stages.models.textmodel import positive_probability
from stages.tracking import model_registry
from stages.tracking.store import sqlite_path
from tests.classifier_fixtures import TrainedFamilies
from tests.conftest import REPO_ROOT

FAMILIES = ("lstm", "tfidf_logreg")


@pytest.fixture(scope="module")
def trained(trained_families: TrainedFamilies) -> Iterator[TrainedFamilies]:
    """The session's trained families (``FAMILIES`` among them); their store is the tracking
    URI."""
    assert set(FAMILIES) <= set(trained_families.families)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", trained_families.uri)
        yield trained_families


def cli(trained: TrainedFamilies, *args: str) -> int:
    return predict.main(["sentiment", *args, "--models-dir", str(trained.models)])


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_predictions_of_the_test_split_reproduce_the_test_metrics(
    trained: TrainedFamilies, family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reviews = tmp_path / "test.txt"
    reviews.write_text("\n".join(trained.test["text"]) + "\n", encoding="utf-8")
    assert cli(trained, "--family", family, "--file", str(reviews), "--format", "csv") == 0
    rows = csv_rows(capsys.readouterr().out)
    assert [int(r["line"]) for r in rows] == list(range(1, len(trained.test) + 1))
    assert [r["review"] for r in rows] == list(trained.test["text"])
    probabilities = np.array([float(r["probability"]) for r in rows])
    assert [r["label"] for r in rows] == ["pos" if p >= 0.5 else "neg" for p in probabilities]
    ours = compute_metrics(trained.test["label"].to_numpy(), probabilities)
    stage = trained.metrics_of(family)
    for key in ("accuracy", "tn", "fp", "fn", "tp"):
        assert ours[key] == stage[key], key
    assert ours["roc_auc"] == pytest.approx(stage["roc_auc"], abs=1e-9)
    assert ours["loss"] == pytest.approx(stage["loss"], rel=1e-6)


def test_a_handful_of_reviews_get_the_models_test_probabilities(
    trained: TrainedFamilies, capsys: pytest.CaptureFixture[str]
) -> None:
    """Token ids and P(positive) as train_classifier computed them for its test metrics."""
    picks = [0, 1, 7, 42, 159]
    preprocess = json.loads((trained.models / "lstm" / "preprocess.json").read_text())
    x_test, _ = load_split(trained.prepared / "vectorized" / "test.npz", **preprocess)
    texts = [trained.test["text"][i] for i in picks]
    encoder = joblib.load(trained.models / "lstm" / "encoder.joblib")
    np.testing.assert_array_equal(encoder.transform(texts), x_test[picks])

    model = keras.models.load_model(trained.models / "lstm" / "model.keras", compile=False)
    expected = positive_probability(
        model.predict(x_test, batch_size=PREDICT_BATCH, verbose=0)
    )[picks]
    assert cli(trained, "--family", "lstm", "--format", "json", *texts) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["review"] for r in records] == texts
    np.testing.assert_allclose([r["probability"] for r in records], expected, rtol=1e-6)
    assert [r["label"] for r in records] == ["pos" if p >= 0.5 else "neg" for p in expected]


def test_champion_is_the_registered_model(
    trained: TrainedFamilies, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Registered in a copy of the session's store (its runs and artifact locations), which the
    # other tests read unchanged.
    uri = f"sqlite:///{shutil.copyfile(sqlite_path(trained.uri), tmp_path / 'mlflow.db')}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    reviews = ["great superb w3 w4", "awful w1 boring", "w5 w6 loved it, hated the end"]
    assert cli(trained, "--family", "lstm", "--format", "json", *reviews) == 0
    local = json.loads(capsys.readouterr().out)

    client = MlflowClient(uri, uri)
    record = model_registry.read_record(trained.models, "lstm")
    model_registry.register_champion(client, "lstm", record)
    # The registered model carries its vocabulary: no workspace models or vocabulary needed.
    assert predict.main(["sentiment", *reviews, "--family", "champion", "--format", "json",
                         "--models-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == local
    assert f"imdb-sentiment@champion is version 1: lstm (run {record['run_id']})" in captured.err


def test_text_format_shows_label_probability_and_review_start(
    trained: TrainedFamilies, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "superb " * 20
    assert cli(trained, "--family", "tfidf_logreg", "awful\tboring", long) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("neg\t0.") and first.endswith("\tawful boring")
    assert second.startswith("pos\t0.")
    assert second.split("\t")[2] == ("superb " * 10)[:67] + "..."


def test_stdin_with_random_bytes_in_a_subprocess(trained: TrainedFamilies) -> None:
    data = bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8))
    data = b"great movie\r\n\n" + data.replace(b"\n", b" ") + b"\n\xff\xfe awful\n"
    proc = subprocess.run(
        [sys.executable, "-m", "stages.commands.predict", "sentiment", "-",
         "--family", "tfidf_logreg", "--format", "csv", "--models-dir", str(trained.models)],
        input=data, capture_output=True, cwd=REPO_ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    rows = csv_rows(proc.stdout.decode("utf-8"))
    assert [r["line"] for r in rows] == ["1", "3", "4"]  # line 2 is blank
    assert rows[0]["review"] == "great movie"
    assert rows[2]["review"] == "\ufffd\ufffd awful"
    assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ([], None, "no reviews: pass REVIEW arguments, --file PATH, or - for stdin"),
        (["good", " "], None, "review 2 is empty"),
        (["-"], b"\n  \r\n", "stdin: no reviews (one review per line)"),
        (["--file", "-"], b"", "stdin: no reviews (one review per line)"),
        (["good", "--file", "x.txt"], None, "give reviews as arguments or with --file, not both"),
        (["--file", "/nonexistent/reviews.txt"], None,
         "cannot read /nonexistent/reviews.txt: No such file or directory"),
    ],
)
def test_unusable_input_exits_2(
    trained: TrainedFamilies, args: list[str], stdin: bytes | None, message: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert cli(trained, "--family", "lstm", *args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith(f"ERROR stages.commands.predict: {message}\n")


def test_missing_model_or_champion_exit_1(
    trained: TrainedFamilies, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["sentiment", "good", "--models-dir", str(tmp_path)]
    assert predict.main([*args, "--family", "transformer"]) == 1
    assert capsys.readouterr().err.endswith(
        f"no trained model in {tmp_path / 'transformer'} (run: dvc repro train@transformer)\n"
    )
    (tmp_path / "lstm").mkdir()  # a model of an older layout: no encoder
    (tmp_path / "lstm" / "model.keras").write_bytes(b"")
    assert predict.main([*args, "--family", "lstm"]) == 1
    assert capsys.readouterr().err.endswith(
        f"no trained model in {tmp_path / 'lstm'} (run: dvc repro train@lstm)\n"
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert predict.main([*args, "--family", "champion"]) == 1
    assert capsys.readouterr().err.endswith(
        f"no model imdb-sentiment@champion in the MLflow store {store} (run: dvc repro compare)\n"
    )
    assert not (tmp_path / "mlflow.db").exists()  # predicting creates no store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "ftp://example.com")
    assert predict.main([*args, "--family", "champion"]) == 1
    assert ("ERROR stages.commands.predict: MLflow tracking URI 'ftp://example.com': "
            "unsupported scheme 'ftp'") in capsys.readouterr().err


def test_unknown_family_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        predict.main(["sentiment", "good", "--family", "bert"])
    assert exc.value.code == 2
    choices = ", ".join(f"'{name}'" for name in [*sentiment_families(), "champion"])
    assert (
        f"argument --family: invalid choice: 'bert' (choose from {choices})"
    ) in capsys.readouterr().err


def test_scikit_learn_family_is_scored_without_tensorflow(trained: TrainedFamilies) -> None:
    """The registry, params validation and ``predict`` of a scikit-learn family run in a process
    that never imports TensorFlow or Keras."""
    script = (
        "import runpy, sys\n"
        "from stages.families import registry\n"
        "registry.load_params()\n"
        f"sys.argv = ['predict', 'sentiment', '--family', 'tfidf_logreg', '--models-dir', "
        f"{str(trained.models)!r}, 'A moving film.', 'Dull and far too long.']\n"
        "try:\n"
        "    runpy.run_module('stages.commands.predict', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    *scores, modules = proc.stdout.splitlines()
    assert [line.split("\t")[2] for line in scores] == ["A moving film.", "Dull and far too long."]
    assert {line.split("\t")[0] for line in scores} <= {"pos", "neg"}
    assert modules == "[]"
