"""The project server's body guard (``stages.commands.serve.BodyGuard``) as plain ASGI: what
MLflow's JSON parsing would fail on gets a 400 with a message, an oversized body a 413, and any
other request reaches the app with its body intact."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stages.commands.serve import BodyGuard, json_problem

DEEP = b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
HUGE = b'{"inputs": [' + b"9" * 5000 + b"]}"


class EchoApp:
    """Answers 200 with the body it received."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})


def exchange(body: bytes, *, content_type: str = "application/json", method: str = "POST",
             chunk: int = 1000, max_bytes: int = 10**6) -> tuple[int, bytes]:
    """Status and body of the guarded echo app's answer to ``body`` sent in chunks."""
    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
                for i, p in enumerate(parts)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/invocations",
             "headers": [(b"content-type", content_type.encode())]}
    asyncio.run(BodyGuard(EchoApp(), max_bytes=max_bytes)(scope, receive, send))
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


@pytest.mark.parametrize(("body", "message"), [(DEEP, "nested too deeply"),
                                               (HUGE, "Exceeds the limit (4300 digits)")])
def test_hostile_json_gets_a_400_in_mlflows_error_format(body: bytes, message: str) -> None:
    status, answer = exchange(body)
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
