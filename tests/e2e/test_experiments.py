"""The experiment workflow in a temporary copy of the repo, with the default MLflow store.

``dvc repro``, then ``dvc exp run -S`` (listed by ``dvc exp show``, diffed by ``dvc metrics diff``
and ``dvc params diff``), a run-cache restore (no MLflow run) and a forced rerun; then two queued
experiments under two workers (``dvc queue start -j 2``) that create a fresh default sqlite store
at once. Every executed training must be exactly one complete MLflow run in ``<copy>/mlflow.db``.
``MLFLOW_TRACKING_URI`` is unset on purpose: the default store is what is under test.

The stores are read only at the end: MLflow caches an open store per URI in this process, so a
store read before it is replaced would be read again from the replaced file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tests.repo_fixtures import (
    GIT_IDENTITY,
    TINY_TRANSLATOR,
    build_mirror,
    copy_repo,
    dvc,
    git,
    stage_env,
    tiny_translators,
    wait_for_queue,
    write_sources,
)

pytestmark = pytest.mark.e2e

FAMILY = "seq2seq"
STAGE = f"train_translator@{FAMILY}"
EPOCHS_KEY = f"translate.{FAMILY}.epochs"
BASE_EPOCHS = TINY_TRANSLATOR["epochs"]
QUEUED = {"exp-q2": 2, "exp-q4": 4}  # distinct from every other epochs value: no run-cache hit
QUEUE_TIMEOUT_S = 600
RUN_ID = re.compile(r"MLflow run ([0-9a-f]{32}) ")
# Outputs the source checkout may hold untracked (a stage run by hand): the copy starts clean.
STALE_OUTPUTS = ("models", "metrics/plots", f"metrics/{FAMILY}.json")


def committed_copy(tmp_path: Path, **env: str) -> tuple[Path, dict[str, str]]:
    """A committed copy with the translate fixture and only ``seq2seq`` at tiny params; ``env``
    adds to the stages' environment (without ``MLFLOW_TRACKING_URI``: the copy's own store)."""
    repo = copy_repo(tmp_path / "repo")
    for rel in STALE_OUTPUTS:
        path = repo / rel
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    write_sources(repo, build_mirror(tmp_path / "mirror"))
    tiny_translators(repo, FAMILY)
    stage_environ = stage_env(tmp_path / "mirror", **GIT_IDENTITY)
    stage_environ.pop("MLFLOW_TRACKING_URI", None)
    stage_environ.update(env)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "copy")
    return repo, stage_environ


def reproduced_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """``committed_copy``, reproduced and committed again."""
    repo, env = committed_copy(tmp_path)
    dvc(repo, env, "repro", STAGE)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "repro")
    return repo, env


def exp_params_and_loss(repo: Path, env: dict[str, str]) -> dict[str, tuple[dict, float]]:
    """``dvc exp show --json``: experiment name -> (seq2seq params, seq2seq loss metric)."""
    found = {}
    for baseline in json.loads(dvc(repo, env, "exp", "show", "--json")):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                params = data["params"]["params.yaml"]["data"]["translate"][FAMILY]
                loss = data["metrics"][f"metrics/{FAMILY}.json"]["data"]["loss"]
                found[rev["name"]] = (params, loss)
    return found


def exp_show(repo: Path, env: dict[str, str]) -> dict[str, tuple[int, float]]:
    """Experiment name -> (epochs param, seq2seq loss metric)."""
    return {name: (params["epochs"], loss)
            for name, (params, loss) in exp_params_and_loss(repo, env).items()}


def md_rows(table: str) -> list[list[str]]:
    """Body cells of a markdown table printed by ``dvc ... --md``."""
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def check_exp_run(repo: Path, env: dict[str, str]) -> list[float]:
    """``dvc exp run -S``: listed by exp show, diffed against HEAD; returns [HEAD, exp] loss."""
    dvc(repo, env, "exp", "run", "-n", "exp-e3", STAGE, "-S", f"{EPOCHS_KEY}=3")
    assert "exp-e3" in dvc(repo, env, "exp", "show", "--md")
    epochs, loss = exp_show(repo, env)["exp-e3"]
    assert epochs == 3
    (row,) = md_rows(dvc(repo, env, "metrics", "diff", "--md"))
    assert row[:2] == [f"metrics/{FAMILY}.json", "loss"]
    head, new, change = map(float, row[2:])
    assert new == pytest.approx(loss, abs=1e-4)
    assert change == pytest.approx(new - head, abs=1e-4)
    params = md_rows(dvc(repo, env, "params", "diff", "--md"))
    assert params == [["params.yaml", EPOCHS_KEY, str(BASE_EPOCHS), "3"]]
    return [head, loss]


def check_run_cache(repo: Path, env: dict[str, str]) -> float:
    """Params seen before: restored from the run cache; ``-f -s`` forces a run (its loss)."""
    setting = f"{EPOCHS_KEY}={BASE_EPOCHS}"
    cached = dvc(repo, env, "exp", "run", "-n", "exp-cached", STAGE, "-S", setting)
    assert f"Stage '{STAGE}' is cached - skipping run" in cached
    assert f"Running stage '{STAGE}'" not in cached
    forced = dvc(repo, env, "exp", "run", "-f", "-s", "-n", "exp-forced", STAGE, "-S", setting)
    assert f"Running stage '{STAGE}'" in forced
    epochs, loss = exp_show(repo, env)["exp-forced"]
    assert epochs == BASE_EPOCHS
    return loss


def check_queue(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """Two experiments queued and run by two workers; returns name -> MLflow run id (its log)."""
    for name, epochs in QUEUED.items():
        dvc(repo, env, "exp", "run", "--queue", "-n", name, STAGE, "-S", f"{EPOCHS_KEY}={epochs}")
    try:
        dvc(repo, env, "queue", "start", "-j", "2")
        status = wait_for_queue(repo, env, list(QUEUED), QUEUE_TIMEOUT_S)
    finally:
        stop = ["dvc", "queue", "stop", "--kill"]
        subprocess.run(stop, cwd=repo, env=env, capture_output=True, check=False)
    assert {name: status[name] for name in QUEUED} == dict.fromkeys(QUEUED, "Success")
    logs = {name: dvc(repo, env, "queue", "logs", name) for name in QUEUED}
    for log in logs.values():
        assert "database is locked" not in log
        assert f"Running stage '{STAGE}'" in log
    # The store was fresh: one task created the experiment, the other found it (store lock).
    created = [name for name, log in logs.items() if "creating MLflow experiment" in log]
    assert len(created) == 1, created
    ids = {name: RUN_ID.findall(log) for name, log in logs.items()}
    assert all(len(found) == 1 for found in ids.values()), ids
    return {name: found[0] for name, found in ids.items()}


def store_runs(repo: Path, db: str = "mlflow.db") -> list[Run]:
    """All runs of the "translation" experiment in the copy's store ``db``, oldest first."""
    client = MlflowClient(f"sqlite:///{repo / db}")
    experiment = client.get_experiment_by_name("translation")
    assert experiment is not None, f"no 'translation' experiment in {repo / db}"
    assert experiment.artifact_location == (repo / "mlartifacts" / "translation").as_uri()
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def assert_complete(repo: Path, run: Run, epochs: int, loss: float, db: str = "mlflow.db") -> None:
    """FINISHED; all params; per-epoch and final metrics (final loss as DVC's); model logged."""
    client = MlflowClient(f"sqlite:///{repo / db}")
    assert run.info.status == "FINISHED"
    assert run.data.params == {k: str(v) for k, v in {**TINY_TRANSLATOR, "epochs": epochs}.items()}
    assert run.data.tags["dvc_stage"] == STAGE
    assert {"exact_match", "char_accuracy", "train_seconds"} <= set(run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(epochs))
    assert history[-1].value == pytest.approx(loss, abs=1e-4)
    assert "translations.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    (model,) = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    model_dir = Path(unquote(urlparse(model.artifact_location).path))
    assert model_dir.is_relative_to(repo / "mlartifacts")
    assert (model_dir / "MLmodel").is_file()


def test_experiments_log_every_executed_run_to_default_store(tmp_path: Path) -> None:
    repo, env = reproduced_copy(tmp_path)
    head_loss, e3_loss = check_exp_run(repo, env)
    forced_loss = check_run_cache(repo, env)
    # A fresh default store for the queue: both workers create the store and the experiment at
    # once (two processes migrating a new sqlite store broke it for good without the lock).
    (repo / "mlflow.db").rename(repo / "before-queue.db")
    logged = check_queue(repo, env)

    # repro, exp-e3 and exp-forced ran; exp-cached was restored from the run cache and logged none.
    before = store_runs(repo, "before-queue.db")
    expected = [(BASE_EPOCHS, head_loss), (3, e3_loss), (BASE_EPOCHS, forced_loss)]
    assert len(before) == len(expected)
    for run, (epochs, loss) in zip(before, expected, strict=True):
        assert_complete(repo, run, epochs, loss, "before-queue.db")
    queued = {run.info.run_id: run for run in store_runs(repo)}
    assert set(queued) == set(logged.values())
    shown = exp_show(repo, env)
    for name, epochs in QUEUED.items():
        assert shown[name][0] == epochs
        assert_complete(repo, queued[logged[name]], epochs, shown[name][1])
    assert sorted(p.name for p in repo.rglob("mlflow.db")) == ["mlflow.db"]
