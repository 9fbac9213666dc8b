"""The project server's ASGI front (``stages.commands.serve.ScoringApp``): what MLflow's JSON
parsing would fail on gets a 400 with a message, an oversized body a 413; POST /invocations
reaches the scoring function with its body and Content-Type intact, and any other request
reaches MLflow's app, a POST with its body replayed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mlflow.pyfunc.scoring_server import InvocationsResponse

from stages.commands.serve import ScoringApp, json_problem

DEEP = b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
HUGE = b'{"inputs": [' + b"9" * 5000 + b"]}"


class EchoApp:
    """Answers 200 with the body it received."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})


def score(body: bytes, content_type: str) -> InvocationsResponse:
    """Answers 201 (not the app's 200) with the Content-Type and the body it received."""
    return InvocationsResponse(f"{content_type}|{body.decode()}", 201, "text/plain")


def exchange(body: bytes, *, content_type: str = "application/json", method: str = "POST",
             path: str = "/other", chunk: int = 1000, max_bytes: int = 10**6
             ) -> tuple[int, bytes]:
    """Status and body of the answer to ``body`` sent in chunks (to the echo app by default)."""
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
                for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"content-type", content_type.encode())]}
    asyncio.run(ScoringApp(EchoApp(), score, max_bytes=max_bytes)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"inputs": ["fine"]}', None),
        (b"not json", None),  # MLflow answers these itself, with a 400
        (b'{"inputs": ["\xff"]}', None),
        (DEEP, "the JSON body is nested too deeply to parse"),
        (HUGE, "the JSON body cannot be parsed: Exceeds the limit (4300 digits)"),
    ],
)
def test_json_problem_names_what_mlflow_would_answer_with_a_500(
    body: bytes, problem: str | None
) -> None:
    found = json_problem(body)
    assert found == problem if problem is None else found.startswith(problem)


def test_a_valid_body_sent_in_chunks_reaches_the_app_whole() -> None:
    body = json.dumps({"inputs": ["a review " * 500]}).encode()
    assert exchange(body, chunk=100) == (200, body)


def test_invocations_reach_the_scorer_with_body_and_content_type() -> None:
    body = json.dumps({"inputs": ["a review " * 500]}).encode()
    header = "application/json; charset=utf-8"
    assert exchange(body, content_type=header, path="/invocations", chunk=100) == (
        201, f"{header}|{body.decode()}".encode())


@pytest.mark.parametrize(("body", "message"), [(DEEP, "nested too deeply"),
                                               (HUGE, "Exceeds the limit (4300 digits)")])
def test_hostile_json_gets_a_400_in_mlflows_error_format(body: bytes, message: str) -> None:
    status, answer = exchange(body, path="/invocations")
    assert status == 400
    error = json.loads(answer)
    assert error["error_code"] == "BAD_REQUEST"
    assert message in error["message"]


def test_an_oversized_body_gets_a_413_before_it_is_read_whole() -> None:
    status, answer = exchange(b"x" * 5000, max_bytes=2500)
    assert status == 413
    assert json.loads(answer)["message"] == "the body exceeds 2500 bytes"


def test_non_json_bodies_and_other_methods_pass_unparsed() -> None:
    assert exchange(DEEP, content_type="text/csv") == (200, DEEP)
    assert exchange(DEEP, content_type="application/json; charset=utf-8")[0] == 400
    assert exchange(b"", method="GET") == (200, b"")
