"""Serve an MLflow model over HTTP with MLflow's own request handling (the routes, JSON formats
and answers of ``mlflow models serve``), minus its per-request overhead, behind a guard for
bodies that MLflow's JSON parsing fails on.

``python -m stages.commands.serve -m MODEL_URI [--host 127.0.0.1] [--port 5001] [--workers 1]``

``POST /invocations`` calls ``mlflow.pyfunc.scoring_server.invocations`` (the function behind
MLflow's route: content types, parsing, schema check, predict, the response JSON and its error
answers) directly, in one scoring thread per worker. MLflow's FastAPI route does the same call
through an HTTP middleware and a thread per request; on one review that stack cost more CPU than
scoring (``bench/serve.py``, README). Every other route (``/ping``, ``/health``, ``/version``) is
MLflow's app, unchanged. MLflow's request timeout (``MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT``) is
not applied to ``/invocations``.

MLflow's handler catches ``JSONDecodeError`` and ``UnicodeDecodeError`` only: a body nested
deeper than Python's recursion limit (``RecursionError``) or holding an integer of more than
4,300 digits (``ValueError``) gets an HTTP 500 from ``mlflow models serve``. The guard parses a
JSON body once before MLflow does and answers such bodies with a 400 naming the problem (MLflow's
error JSON: ``error_code``, ``message``); a body over ``--max-body-mb`` gets a 413.

Workers: one by default (README: on 2 cores a second worker did not raise throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stages.common.logs import setup_logging

log = logging.getLogger(__spec__.name)  # its module name under `python -m` too

MODEL_ENV = "SENTIMENT_SERVE_MODEL_PATH"
MAX_BODY_ENV = "SENTIMENT_SERVE_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_MB = 16
JSON_TYPE = "application/json"
APP_FACTORY = "stages.commands.serve:create_app"  # what uvicorn imports in each worker

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Score = Callable[[bytes, str], Any]  # (body, Content-Type) -> MLflow's InvocationsResponse


def json_problem(body: bytes) -> str | None:
    """Why MLflow's JSON parsing would fail on ``body`` with a 500, or None (valid JSON, or an
    error MLflow itself answers with a 400)."""
    try:
        json.loads(body)
    except RecursionError:
        return "the JSON body is nested too deeply to parse"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    except ValueError as exc:  # e.g. an integer longer than int()'s digit limit
        return f"the JSON body cannot be parsed: {exc}"
    return None


class ScoringApp:
    """ASGI: POST bodies read once and guarded (413 over ``max_bytes``, 400 for JSON that
    ``json_problem`` rejects); ``POST /invocations`` answered by ``score(body, content_type)``
    in one scoring thread; every other request by ``app``, a POST with its body replayed."""

    def __init__(self, app: Any, score: Score, *, max_bytes: int) -> None:
        self.app = app
        self.score = score
        self.max_bytes = max_bytes
        # One thread: requests are scored in turn, off the event loop (which keeps answering
        # /ping), without several threads contending for the GIL.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await answer(send, 413, error_json(f"the body exceeds {self.max_bytes} bytes"))
                return
        body, header = b"".join(chunks), content_type(scope)
        problem = json_problem(body) if media_type(header) == JSON_TYPE else None
        if problem is not None:
            await answer(send, 400, error_json(problem))
            return
        if scope["path"] == "/invocations":
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, self.score, body, header)
            await answer(send, result.status, result.response.encode(), result.mimetype)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def content_type(scope: Scope) -> str:
    """The request's Content-Type header, or ``""``."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


def media_type(header: str) -> str:
    """A Content-Type's media type, lowercased, without parameters."""
    return header.split(";")[0].strip().lower()


def error_json(message: str) -> bytes:
    """MLflow's error answer: ``{"error_code": "BAD_REQUEST", "message": ...}``."""
    return json.dumps({"error_code": "BAD_REQUEST", "message": message}).encode()


async def answer(send: Send, status: int, body: bytes, mimetype: str = JSON_TYPE) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", mimetype.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> ScoringApp:
    """MLflow's scoring app and request handling for the model at ``$SENTIMENT_SERVE_MODEL_PATH``
    (uvicorn calls this in each worker)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    model = scoring_server.load_model_with_mlflow_config(os.environ[MODEL_ENV])
    schema = model.metadata.get_input_schema()

    def score(body: bytes, header: str) -> Any:
        try:
            return scoring_server.invocations(body, header, model, schema)
        except MlflowException as exc:  # answered as MLflow's route answers it
            return scoring_server.InvocationsResponse(
                exc.serialize_as_json(), exc.get_http_status_code(), JSON_TYPE)

    return ScoringApp(scoring_server.init(model), score,
                      max_bytes=int(os.environ[MAX_BODY_ENV]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nlp-serve",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model-uri", required=True,
                        help="models:/..., runs:/... or a local model directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5001)
    parser.add_argument("-w", "--workers", type=int, default=1)
    parser.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_MB)
    args = parser.parse_args(argv)
    setup_logging()
    import mlflow
    import uvicorn

    from stages.tracking.store import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    # Downloaded once here, not by every worker.
    local = mlflow.artifacts.download_artifacts(args.model_uri)
    log.info("serving %s (%s) on http://%s:%d with %d worker(s)", args.model_uri, local,
             args.host, args.port, args.workers)
    os.environ[MODEL_ENV] = local
    os.environ[MAX_BODY_ENV] = str(int(args.max_body_mb * 2**20))
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
