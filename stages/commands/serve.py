"""Serve an MLflow model over HTTP: MLflow's own scoring app (the routes, JSON formats and
answers of ``mlflow models serve``) behind a guard for bodies that MLflow's JSON parsing fails on.

``python -m stages.commands.serve -m MODEL_URI [--host 127.0.0.1] [--port 5001] [--workers 1]``

MLflow's handler catches ``JSONDecodeError`` and ``UnicodeDecodeError`` only: a body nested
deeper than Python's recursion limit (``RecursionError``) or holding an integer of more than
4,300 digits (``ValueError``) gets an HTTP 500 from ``mlflow models serve``. The guard parses a
JSON body once before MLflow does and answers such bodies with a 400 naming the problem (MLflow's
error JSON: ``error_code``, ``message``); a body over ``--max-body-mb`` gets a 413. Everything
else reaches MLflow's app unchanged.

Workers: one by default. On 2 cores one uvicorn worker with its thread pool served both
the NumPy families and the transformer fastest (``bench/serve.py --workers``; README).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from stages.common.logs import setup_logging

log = logging.getLogger(__name__)

MODEL_ENV = "SENTIMENT_SERVE_MODEL_PATH"
MAX_BODY_ENV = "SENTIMENT_SERVE_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_MB = 16
JSON_TYPE = "application/json"
APP_FACTORY = "stages.commands.serve:create_app"  # what uvicorn imports in each worker

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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


class BodyGuard:
    """ASGI middleware: 413 for a body over ``max_bytes``, 400 for JSON that ``json_problem``
    rejects; other requests reach ``app`` with their body replayed."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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
                await reject(send, 413, f"the body exceeds {self.max_bytes} bytes")
                return
        body = b"".join(chunks)
        problem = json_problem(body) if content_type(scope) == JSON_TYPE else None
        if problem is not None:
            await reject(send, 400, problem)
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
    """The request's media type, lowercased, without parameters."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


async def reject(send: Send, status: int, message: str) -> None:
    """An MLflow-style JSON error answer."""
    code = "BAD_REQUEST" if status == 400 else "REQUEST_LIMIT_EXCEEDED"
    body = json.dumps({"error_code": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> BodyGuard:
    """MLflow's scoring app for the model at ``$SENTIMENT_SERVE_MODEL_PATH``, guarded (uvicorn
    calls this in each worker)."""
    from mlflow.pyfunc import scoring_server

    model = scoring_server.load_model_with_mlflow_config(os.environ[MODEL_ENV])
    return BodyGuard(scoring_server.init(model), max_bytes=int(os.environ[MAX_BODY_ENV]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stages.commands.serve",
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
