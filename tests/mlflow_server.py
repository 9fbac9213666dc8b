"""Real server processes on 127.0.0.1 for e2e tests (``mlflow server``/``ui``, the team server,
model scoring servers), always stopped.

``start`` runs a command in its own process group and returns once its health route answers 200
(``wait_until_ready``, one start-up timeout for every server); ``stop`` ends the whole group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import START_ENV

# ~10 s on an idle 2-core machine for an MLflow server, 20-40 s for a scoring server loading a
# Keras model under load; migrations of a new database on top.
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, proc: subprocess.Popen, log: Path, route: str = "/health") -> None:
    """Poll ``url + route`` until it answers 200; fail the test with ``log`` if ``proc`` exits
    first or ``STARTUP_TIMEOUT_S`` passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}{route}", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"no {route} from {url} after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen) -> None:
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
    copier = _COPIERS.pop(proc.pid, None)
    if copier is not None:  # the log is whole once stop returns
        copier.join(timeout=STOP_TIMEOUT_S)
        proc.stdout.close()


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process: the session's (``START_ENV``), without
    ``MLFLOW_TRACKING_URI`` or ``MLFLOW_REGISTRY_URI``."""
    # No background job runner (six extra processes); this project does not use MLflow jobs.
    env = dict(START_ENV, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **extra)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    return env


_COPIERS: dict[int, threading.Thread] = {}  # pid -> the thread copying its output to its log


def _copy_to(log: Path, pipe: object) -> None:
    with open(log, "ab") as out:
        for line in pipe:
            out.write(line)
            out.flush()


def start(cmd: list[str], url: str, *, cwd: Path, log: Path, env: dict[str, str],
          route: str = "/health", preexec_fn: Callable[[], None] | None = None
          ) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (output: ``log``); return once ``url + route``
    answers 200. Stop it with ``stop``.

    With ``preexec_fn`` (run in the child before exec, e.g. a resource limit) the output goes
    through a pipe that this process copies to ``log``: a file-size limit of the server does not
    cut its own log short.
    """
    if preexec_fn is None:
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    else:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=preexec_fn)
        _COPIERS[proc.pid] = threading.Thread(target=_copy_to, args=(log, proc.stdout),
                                              daemon=True)
        _COPIERS[proc.pid].start()
    try:
        wait_until_ready(url, proc, log, route)
    except BaseException:
        stop(proc)
        raise
    return proc

