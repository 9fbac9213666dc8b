"""Real ``mlflow server``/``mlflow ui`` processes on 127.0.0.1 for e2e tests, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

STARTUP_TIMEOUT_S = 180.0  # ~10 s on an idle 2-core machine, ~30 s under load; +migrations
STOP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_healthy(uri: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{uri}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{uri} not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL whatever is left after STOP_TIMEOUT_S."""
    with_signal = signal.SIGTERM
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        try:
            os.killpg(proc.pid, with_signal)
        except ProcessLookupError:
            break  # the whole group is gone
        proc.poll()  # reap the leader so it does not linger as a zombie
        time.sleep(0.2)
        if time.monotonic() > deadline:
            with_signal = signal.SIGKILL
    proc.wait(timeout=STOP_TIMEOUT_S)


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process: no ``MLFLOW_TRACKING_URI`` of the caller's."""
    # No background job runner (six extra processes); this project does not use MLflow jobs.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **extra)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def start(cmd: list[str], uri: str, *, cwd: Path, log: Path, env: dict[str, str]
          ) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (output: ``log``); return once ``uri`` is healthy.
    Stop it with ``_stop_group``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_until_healthy(uri, proc, log)
    except BaseException:
        _stop_group(proc)
        raise
    return proc

