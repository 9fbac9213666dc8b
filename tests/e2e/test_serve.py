"""Serving a raw-text model on 127.0.0.1, by the project's server (``stages.commands.serve``)
and by ``mlflow models serve``: good requests get probabilities and labels, bad ones a 4xx with a
message (hostile JSON too, behind the project's guard), and the server keeps serving."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from stages.commands.serve import DEFAULT_MAX_BODY_MB
from tests.classifier_fixtures import TrainedFamilies
from tests.conftest import REPO_ROOT, START_ENV
from tests.mlflow_server import free_port, start, stop

pytestmark = pytest.mark.e2e

FAMILY = "transformer"  # custom registered layers, as the real champion
REQUEST_TIMEOUT_S = 60.0
REVIEWS = ["Great, superb acting. Loved it!", "Awful and boring.<br />I hated it."]
HOSTILE = {
    "deep": (b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    "huge integer": (b'{"inputs": [' + b"9" * 5000 + b"]}", "Exceeds the limit (4300 digits)"),
    "invalid UTF-8": (b'{"inputs": ["\xff\xfe"]}', "UnicodeDecodeError"),
}


@pytest.fixture(scope="module")
def model(trained_families: TrainedFamilies) -> tuple[str, str]:
    """``(tracking URI, model URI)`` of the fixture family, trained and logged once per session
    in a temp store (shared with tests/stage/test_pyfunc.py)."""
    return trained_families.uri, trained_families.record(FAMILY)["model_uri"]


def server_command(kind: str, model_uri: str, port: str) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if kind == "mlflow":
        return [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri,
                "--env-manager", "local", "-h", "127.0.0.1", "-p", port]
    return [sys.executable, "-m", "stages.commands.serve", "-m", model_uri, "-p", port]


@pytest.fixture(scope="module", params=["project", "mlflow"])
def server(
    request: pytest.FixtureRequest, model: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The scoring server's base URL; started outside the repo, stopped in a finally."""
    tracking_uri, model_uri = model
    workdir = tmp_path_factory.mktemp("server")
    url = f"http://127.0.0.1:{free_port()}"
    bin_dir = Path(sys.executable).parent  # mlflow runs ``uvicorn`` from PATH (an active venv)
    env = {k: v for k, v in START_ENV.items() if k not in ("PYTHONPATH", "MLFLOW_REGISTRY_URI")}
    env |= {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    if request.param == "project":
        env["PYTHONPATH"] = str(REPO_ROOT)
    cmd = server_command(request.param, model_uri, url.rsplit(":", 1)[1])
    proc = start(cmd, url, cwd=workdir, log=workdir / "serve.log", env=env, route="/ping")
    try:
        yield url
    finally:
        stop(proc)


def invoke(url: str, body: object) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(f"{url}/invocations", data=data, timeout=REQUEST_TIMEOUT_S,
                         headers={"Content-Type": "application/json"})


@functools.cache
def loaded(tracking_uri: str, model_uri: str) -> mlflow.pyfunc.PyFuncModel:
    """The model as ``mlflow.pyfunc.load_model`` loads it in this process (once)."""
    mlflow.set_tracking_uri(tracking_uri)
    try:
        return mlflow.pyfunc.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(None)


def offline(model: tuple[str, str], reviews: list[str]) -> pd.DataFrame:
    """What the loaded model answers for ``reviews`` without a server."""
    return loaded(*model).predict(pd.DataFrame({"review": reviews}))


def assert_answers(response: requests.Response, expected: pd.DataFrame) -> None:
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == expected["label"].tolist()
    np.testing.assert_allclose([p["probability"] for p in predictions],
                               expected["probability"], rtol=1e-6)


def test_dataframe_split_and_inputs_bodies_get_probabilities_and_labels(
    server: str, model: tuple[str, str]
) -> None:
    expected = offline(model, REVIEWS)
    split = {"dataframe_split": {"columns": ["review"], "data": [[r] for r in REVIEWS]}}
    assert_answers(invoke(server, split), expected)
    assert_answers(invoke(server, {"inputs": REVIEWS}), expected)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("this is not json", "Invalid input"),
        ({"dataframe_split": {"columns": ["text"], "data": [["good"]]}},
         "input needs a string column 'review' (columns: text)"),
        ({"inputs": []}, "missing inputs"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message_and_the_server_keeps_serving(
    server: str, model: tuple[str, str], body: object, message: str
) -> None:
    response = invoke(server, body)
    assert 400 <= response.status_code < 500, response.text
    assert message in response.json()["message"]
    assert_answers(invoke(server, {"inputs": REVIEWS[:1]}), offline(model, REVIEWS[:1]))


def test_other_routes_and_content_types_answer_as_mlflow_does(server: str) -> None:
    """The project server's own /invocations route keeps MLflow's answers; the rest is MLflow's."""
    assert requests.get(f"{server}/version", timeout=REQUEST_TIMEOUT_S).text == mlflow.__version__
    response = requests.post(f"{server}/invocations", data="a review", timeout=REQUEST_TIMEOUT_S,
                             headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "This predictor only supports the following content types" in response.text


def test_json_numbers_and_null_are_parsed_as_their_text_by_the_server(
    server: str, model: tuple[str, str]
) -> None:
    """MLflow's request parser casts values to the signature's string type before the model
    sees them, null included (the Python API rejects non-strings: tests/stage/test_pyfunc.py)."""
    expected = offline(model, ["1", "2.5", "None"])
    assert_answers(invoke(server, {"inputs": [1, 2.5, None]}), expected)


def test_a_one_megabyte_review_is_scored_truncated(server: str, model: tuple[str, str]) -> None:
    """Documented result (stages/models/pyfunc.py): accepted, cut to the family's seq_len."""
    review = ("superb w1 w2 " * 80_000)[:1_000_000]
    assert_answers(invoke(server, {"inputs": [review]}), offline(model, [review]))


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_json_gets_a_4xx_from_the_project_server_and_both_keep_serving(
    server: str, model: tuple[str, str], request: pytest.FixtureRequest, name: str
) -> None:
    """The guard answers what MLflow's parser fails on; ``mlflow models serve`` itself gives a
    500 for those (a documented limit, README), then serves on."""
    body, message = HOSTILE[name]
    response = invoke(server, body)
    if request.node.callspec.params["server"] == "mlflow" and name != "invalid UTF-8":
        assert response.status_code == 500
    else:
        assert 400 <= response.status_code < 500, response.text
        assert message in response.json()["message"]
    assert_answers(invoke(server, {"inputs": REVIEWS[:1]}), offline(model, REVIEWS[:1]))


@pytest.mark.parametrize("server", ["project"], indirect=True)
def test_a_body_over_max_body_mb_gets_a_413_and_the_server_keeps_serving(
    server: str, model: tuple[str, str]
) -> None:
    """The project server's guard at its default ``--max-body-mb``: a body one byte over it is
    answered 413 in MLflow's error format, and the next request is scored."""
    limit = int(DEFAULT_MAX_BODY_MB * 2**20)
    body = b'{"inputs": ["' + b"w" * (limit - len(b'{"inputs": [""]}') + 1) + b'"]}'
    assert len(body) == limit + 1
    response = invoke(server, body)
    assert response.status_code == 413, response.text
    assert response.json() == {"error_code": "BAD_REQUEST",
                               "message": f"the body exceeds {limit} bytes"}
    assert_answers(invoke(server, {"inputs": REVIEWS[:1]}), offline(model, REVIEWS[:1]))
