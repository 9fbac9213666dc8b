"""Benchmark serving a raw-text sentiment model over HTTP on 127.0.0.1.

``--model`` is a family name (``nbsvm``, ``transformer``...: ``models/<family>/`` logged with the
working tree's code into a temporary MLflow store, so the bench measures this checkout) or a
model URI (default ``models:/imdb-sentiment@champion``; the store is ``MLFLOW_TRACKING_URI`` or
the repo's ``mlflow.db``). The server is the project's (``python -m stages.commands.serve``:
MLflow's scoring app behind a body guard) or, with ``--server mlflow``, ``mlflow models serve
--env-manager local``; ``--workers`` uvicorn workers. With real IMDB test reviews
(``data/prepared/imdb/test.parquet``): requests/s and p50/p95 latency for 1 and 64 reviews per
request (sequential), then ``--requests`` one-review requests from ``--clients`` concurrent
clients, checking that none fails and every answer equals the offline pyfunc prediction (same
label, probability within 1e-6 absolute: float32 sums depend on the batch's shape); then hostile
bodies (deep nesting, a huge number, invalid UTF-8) and their status codes, and that the server
still answers.
Prints markdown tables and a JSON line. Usage::

    .venv/bin/python -m bench.serve [--model FAMILY|URI] [--server project|mlflow] [--workers 1]
        [--rounds 200] [--requests 1000] [--clients 8] [--reviews data/prepared/imdb/test.parquet]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import requests

from bench.family_model import family_model_uri
from stages.families.registry import sentiment_families
from stages.tracking.model_registry import CHAMPION_URI
from stages.tracking.store import tracking_uri as default_tracking_uri

REPO = Path(__file__).resolve().parents[1]

TEST_SPLIT = REPO / "data" / "prepared" / "imdb" / "test.parquet"
STARTUP_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 120.0
WARMUP = 10  # requests before timing: lazily built lookup tables, first-call tracing
log = logging.getLogger("bench")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(server: str, model_uri: str, port: int, workers: int) -> list[str]:
    """The command line of the project's server or of ``mlflow models serve``."""
    bin_dir = Path(sys.executable).parent
    common = ["-m", model_uri, "-p", str(port), "-w", str(workers)]
    if server == "mlflow":
        return [str(bin_dir / "mlflow"), "models", "serve", *common, "--env-manager", "local",
                "-h", "127.0.0.1"]
    return [sys.executable, "-m", "stages.commands.serve", *common, "--host", "127.0.0.1"]


def start_server(cmd: list[str], port: int, tracking_uri: str, workdir: Path
                 ) -> tuple[subprocess.Popen, str]:
    """``cmd`` in its own process group, and its URL once /ping answers."""
    url = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri, PYTHONPATH=str(REPO),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with open(workdir / "serve.log", "wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    start, deadline = time.perf_counter(), time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: see {workdir / 'serve.log'}")
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                log.info("server up in %.1f s", time.perf_counter() - start)
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"no /ping after {STARTUP_TIMEOUT_S} s")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then wait for it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    proc.wait(timeout=30)


def invoke(session: requests.Session, url: str, reviews: list[str]) -> tuple[float, dict]:
    """Latency (s) and the JSON answer of one ``inputs`` request."""
    start = time.perf_counter()
    response = session.post(f"{url}/invocations", json={"inputs": reviews},
                            timeout=REQUEST_TIMEOUT_S)
    seconds = time.perf_counter() - start
    response.raise_for_status()
    return seconds, response.json()


def same(answer: dict, expected: pd.DataFrame) -> bool:
    """Whether a served answer equals the offline predictions of the same reviews."""
    got = answer["predictions"]
    return [p["label"] for p in got] == expected["label"].tolist() and np.allclose(
        [p["probability"] for p in got], expected["probability"], rtol=0.0, atol=1e-6)


def sequential(url: str, texts: list[str], per_request: int, rounds: int) -> dict[str, float]:
    """Requests/s, reviews/s and p50/p95 latency (ms) of ``rounds`` sequential requests."""
    latencies = []
    with requests.Session() as session:
        for _ in range(WARMUP):
            invoke(session, url, texts[:per_request])
        start = time.perf_counter()
        for i in range(rounds):
            batch = texts[(i * per_request) % len(texts):][:per_request]
            latencies.append(invoke(session, url, batch)[0])
        wall = time.perf_counter() - start
    return {"reviews/request": per_request, "requests/s": rounds / wall,
            "reviews/s": rounds * per_request / wall,
            "p50 ms": 1e3 * float(np.percentile(latencies, 50)),
            "p95 ms": 1e3 * float(np.percentile(latencies, 95))}


def concurrent(url: str, texts: list[str], expected: pd.DataFrame, n_requests: int,
               clients: int) -> dict[str, float]:
    """``n_requests`` one-review requests from ``clients`` threads; failures and wrong answers."""
    def one(i: int) -> tuple[bool, bool, float]:
        k = i % len(texts)
        try:
            with requests.Session() as session:
                seconds, answer = invoke(session, url, [texts[k]])
        except requests.RequestException as exc:
            log.warning("request %d failed: %s", i, exc)
            return False, False, 0.0
        return True, same(answer, expected.iloc[[k]]), seconds

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(one, range(n_requests)))
    wall = time.perf_counter() - start
    latencies = [s for ok, _, s in results if ok]
    return {"requests": n_requests, "clients": clients,
            "failed": sum(not ok for ok, _, _ in results),
            "wrong": sum(ok and not right for ok, right, _ in results),
            "requests/s": n_requests / wall,
            "p50 ms": 1e3 * float(np.percentile(latencies, 50)),
            "p95 ms": 1e3 * float(np.percentile(latencies, 95))}


HOSTILE = {
    "nested 5,000 deep": b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "integer of 5,000 digits": b'{"inputs": [' + b"9" * 5000 + b"]}",
    "invalid UTF-8": b'{"inputs": ["\xff\xfe bad"]}',
}


def hostile(url: str) -> dict[str, int | bool]:
    """The status code of each ``HOSTILE`` body, and whether /ping still answers after them."""
    codes: dict[str, int | bool] = {}
    for name, body in HOSTILE.items():
        response = requests.post(f"{url}/invocations", data=body, timeout=REQUEST_TIMEOUT_S,
                                 headers={"Content-Type": "application/json"})
        codes[name] = response.status_code
    codes["serving after"] = requests.get(f"{url}/ping", timeout=10).status_code == 200
    return codes


def table(rows: list[dict[str, float]]) -> str:
    frame = pd.DataFrame(rows)
    return frame.to_markdown(index=False, floatfmt=".1f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=CHAMPION_URI, help="a family name or a model URI")
    parser.add_argument("--server", choices=("project", "mlflow"), default="project")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reviews", type=Path, default=TEST_SPLIT, help="a parquet with 'text'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    texts = pd.read_parquet(args.reviews)["text"].tolist()
    pool = texts[: max(args.rounds * 64, args.requests)]
    with tempfile.TemporaryDirectory() as workdir:
        if args.model in sentiment_families():
            model_uri, tracking_uri = family_model_uri(args.model, Path(workdir))
        else:
            model_uri, tracking_uri = args.model, default_tracking_uri()
        mlflow.set_tracking_uri(tracking_uri)
        model = mlflow.pyfunc.load_model(model_uri)
        offline = model.predict(pd.DataFrame({"review": pool[: args.requests]}))
        port = free_port()
        cmd = server_command(args.server, model_uri, port, args.workers)
        proc, url = start_server(cmd, port, tracking_uri, Path(workdir))
        try:
            rows = [sequential(url, pool, n, args.rounds) for n in (1, 64)]
            load = concurrent(url, pool[: args.requests], offline, args.requests, args.clients)
            bad = hostile(url)
        finally:
            stop_server(proc)
    sys.stdout.write(f"model {args.model} ({model_uri}), server {args.server}, "
                     f"{args.workers} worker(s)\n\n{table(rows)}\n\n{table([load])}\n\n"
                     f"{table([bad])}\n")
    sys.stdout.write(json.dumps({"sequential": rows, "concurrent": load, "hostile": bad}) + "\n")
    return 0 if load["failed"] == load["wrong"] == 0 and bad["serving after"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
