"""The raw-text MLflow pyfunc of trained families: it loads in a fresh process outside the repo
and reproduces the test metrics; bad input is an MlflowException with a clear message."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from stages.evaluation.metrics import compute_metrics
from stages.models.pyfunc import log_sentiment_model, reviews_of
from tests.classifier_fixtures import FILLER, TrainedFamilies, tiny_params
from tests.conftest import REPO_ROOT, START_ENV

# transformer: custom registered layers (sinusoidal positions, hashed bigram buckets).
FAMILIES = ("transformer", "tfidf_logreg")
VARIANTS = {"transformer": {"position": "sinusoidal", "dropout": 0.1}}
CONFUSION_KEYS = ("accuracy", "tn", "fp", "fn", "tp")
SCORE_SCRIPT = """
import json, sys
import mlflow, pandas as pd
uri, reviews, out = sys.argv[1:]
model = mlflow.pyfunc.load_model(uri)
texts = json.loads(open(reviews, encoding="utf-8").read())
frame = model.predict(pd.DataFrame({"review": texts}))
listed = model.predict(texts[:3])
import stages
json.dump({"probability": frame["probability"].tolist(), "label": frame["label"].tolist(),
           "listed": listed["probability"].tolist(), "stages": stages.__file__}, open(out, "w"))
"""


@pytest.fixture(scope="module")
def trained(trained_families: TrainedFamilies) -> Iterator[TrainedFamilies]:
    """The session's trained families (``FAMILIES`` among them); their store is the tracking
    URI."""
    assert trained_families.families["transformer"] == VARIANTS["transformer"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", trained_families.uri)
        mlflow.set_tracking_uri(trained_families.uri)
        yield trained_families
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_fresh_process_outside_the_repo_reproduces_the_test_metrics(
    trained: TrainedFamilies, family: str, tmp_path: Path
) -> None:
    reviews, out = tmp_path / "reviews.json", tmp_path / "out.json"
    reviews.write_text(json.dumps(trained.test["text"].tolist()), encoding="utf-8")
    env = {k: v for k, v in START_ENV.items() if k not in ("PYTHONPATH", "MLFLOW_REGISTRY_URI")}
    env["MLFLOW_TRACKING_URI"] = trained.uri
    record = trained.record(family)
    proc = subprocess.run(
        [sys.executable, "-c", SCORE_SCRIPT, record["model_uri"], str(reviews), str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert not Path(result["stages"]).is_relative_to(REPO_ROOT)  # the model's own code copy
    probabilities = np.array(result["probability"])
    assert result["label"] == ["pos" if p >= 0.5 else "neg" for p in probabilities]
    # float32 sums differ with the batch's shape: a list of 3 is not bitwise the 160-row batch.
    np.testing.assert_allclose(result["listed"], probabilities[:3], rtol=1e-6)
    ours = compute_metrics(trained.test["label"].to_numpy(), probabilities)
    stage = json.loads((trained.metrics / f"{family}.json").read_text())
    assert {k: ours[k] for k in CONFUSION_KEYS} == {k: stage[k] for k in CONFUSION_KEYS}


def test_the_record_names_the_run_and_its_logged_model(trained: TrainedFamilies) -> None:
    client = mlflow.MlflowClient(trained.uri)
    for family in FAMILIES:
        record = trained.record(family)
        model = client.get_logged_model(record["model_id"])
        assert model.source_run_id == record["run_id"]
        assert record["model_uri"] == f"models:/{record['model_id']}"
        assert client.get_run(record["run_id"]).data.tags["dvc_stage"] == f"train@{family}"


def test_signature_example_and_pinned_requirements(trained: TrainedFamilies) -> None:
    info = mlflow.models.get_model_info(trained.record("transformer")["model_uri"])
    assert info.signature.inputs.to_dict() == [{"type": "string", "required": True}]
    assert info.signature.outputs.to_dict() == [
        {"type": "double", "name": "probability", "required": True},
        {"type": "string", "name": "label", "required": True},
    ]
    local = mlflow.artifacts.download_artifacts(trained.record("transformer")["model_uri"])
    requirements = (Path(local) / "requirements.txt").read_text().split()
    from importlib.metadata import version

    from stages.tracking.keras_log import tensorflow_distribution

    # tensorflow_cpu on Linux x86-64 (the CPU wheel), tensorflow elsewhere
    for name in ("keras", tensorflow_distribution(), "scikit-learn", "mlflow"):
        assert f"{name}=={version(name)}" in requirements
    example = json.loads((Path(local) / "serving_input_example.json").read_text())
    assert list(example) == ["dataframe_split"]


def test_logging_warns_about_no_signature_or_type_hint(
    trained: TrainedFamilies, caplog: pytest.LogCaptureFixture
) -> None:
    with mlflow.start_run(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING):
            log_sentiment_model(trained.models / "tfidf_logreg")
    messages = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "signature" in m.lower() or "type hint" in m.lower()] == []


@pytest.mark.parametrize(
    ("model_input", "message"),
    [
        (pd.DataFrame({"text": ["good"]}), "input needs a string column 'review' (columns: text)"),
        (pd.DataFrame({"review": []}, dtype=object), "no reviews: the input is empty"),
        ([], "no reviews: the input is empty"),
        (["good", 3], "review 1 is not a string: int 3"),
        (pd.DataFrame({"review": ["a", None]}), "review 1 is not a string: float nan"),
        ("good", "input must be a DataFrame with a column 'review' or a list of strings, got str"),
    ],
)
def test_bad_input_is_an_invalid_parameter_error(model_input: object, message: str) -> None:
    with pytest.raises(MlflowException) as exc:
        reviews_of(model_input)
    assert exc.value.message == message
    assert exc.value.get_http_status_code() == 400


def test_bad_input_through_the_loaded_model_is_a_400(trained: TrainedFamilies) -> None:
    model = mlflow.pyfunc.load_model(trained.record("tfidf_logreg")["model_uri"])
    for bad in (pd.DataFrame({"text": ["good"]}), pd.DataFrame({"review": [1, 2]}), []):
        with pytest.raises(MlflowException) as exc:
            model.predict(bad)
        assert exc.value.get_http_status_code() == 400


def test_a_one_megabyte_review_is_truncated_to_seq_len(trained: TrainedFamilies) -> None:
    """Documented behaviour: accepted, tokenized whole, cut to the family's last ``seq_len``
    tokens (``truncating: pre``) exactly as in training."""
    model = mlflow.pyfunc.load_model(trained.record("transformer")["model_uri"])
    words = (["great", *FILLER] * 30_000)[: 350_000 // 3]
    review = " ".join(words)
    while len(review) < 1_000_000:
        review += " awful"
        words.append("awful")
    seq_len = tiny_params("transformer")["seq_len"]
    out = model.predict(pd.DataFrame({"review": [review, " ".join(words[-seq_len:])]}))
    assert len(review) >= 1_000_000
    assert out["probability"][0] == out["probability"][1]
