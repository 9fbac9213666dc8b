"""Faults in real processes: SIGKILL mid-download and mid-training, a write limit hit mid-file.

Each test works in a temporary copy of the repo. After a SIGKILL the only thing a stage may leave
is a hidden, git-ignored ``.<output>.tmp-*`` directory beside an output (never the output, never
anything DVC caches); the next run removes it and completes.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.archive_fixtures import imdb_reviews
from tests.conftest import sqlite_store
from tests.e2e.conftest import Reproduced
from tests.httpserver import Route, Server, serve
from tests.repo_fixtures import (
    build_mirror,
    copy_repo,
    dvc,
    stage_env,
    write_sources,
)

pytestmark = pytest.mark.e2e

MIB = 1 << 20
IMDB = "aclImdb_v1.tar.gz"
UP_TO_DATE = "Data and pipelines are up to date."
# The completed training: not the reproduced copy's 3 epochs (DVC would restore that run).
EPOCHS = 4
KILLED_EPOCHS = 100_000  # the killed one: hours of one-step epochs, never done before its kill


def wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group ``proc`` leads (the command and every child it started)."""
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def assert_only_ignored_scratch(repo: Path, new_paths: set[Path], output: Path) -> None:
    """Everything in ``new_paths`` lies in a hidden ``.<output name>.tmp-*`` dir git ignores."""
    tops = {output.parent / p.relative_to(output.parent).parts[0] for p in new_paths}
    for top in tops:
        assert top.name.startswith(f".{output.name}.tmp-"), top
        ignored = subprocess.run(["git", "check-ignore", "-q", str(top)], cwd=repo)
        assert ignored.returncode == 0, f"{top} is not git-ignored"


@pytest.fixture
def stalling_imdb(tmp_path: Path) -> Iterator[tuple[Server, dict, bytes]]:
    """An IMDB tarball of ~3 MiB served over HTTP that stalls after 2 MiB until released."""
    reviews = imdb_reviews(per_class=2)
    # Incompressible filler outside the labeled folders: the transfer outlasts one 1 MiB chunk,
    # so a partial file is on disk when the download is killed.
    reviews["train/unsup/1_0.txt"] = np.random.default_rng(0).bytes(3 * MIB)
    sources = build_mirror(tmp_path / "mirror", reviews=reviews)
    body = (tmp_path / "mirror" / IMDB).read_bytes()
    with serve({f"/{IMDB}": Route(body, stall_at=2 * MIB)}) as server:
        sources["imdb"]["url"] = server.url(f"/{IMDB}")
        yield server, sources, body


def _partial_download(raw: Path) -> list[Path]:
    return [p for p in files_under(raw) if p.stat().st_size >= MIB]


def test_sigkill_mid_download_leaves_no_output_then_rerun_completes(
    tmp_path: Path, stalling_imdb: tuple[Server, dict, bytes]
) -> None:
    server, sources, body = stalling_imdb
    repo = copy_repo(tmp_path / "repo")
    write_sources(repo, sources)
    raw = repo / "data" / "raw"
    out = raw / IMDB
    before = files_under(raw)
    cmd = [sys.executable, "-m", "stages.download", "imdb"]
    env = stage_env(None)  # no mirror: download from the URL in sources.yaml
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log, stderr=log,
                                start_new_session=True)
    partial = wait_for(lambda: _partial_download(raw), "a partial download on disk")
    kill_group(proc)

    assert not out.exists()
    left = files_under(raw) - before
    assert left == set(partial) and MIB <= partial[0].stat().st_size < len(body)
    assert_only_ignored_scratch(repo, left, out)

    server.release.set()
    rerun = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert out.read_bytes() == body
    assert files_under(raw) == before | {out}  # the killed run's scratch is gone too
    assert "left by an interrupted run" in rerun.stderr


def test_sigkill_of_dvc_repro_mid_download_then_repro_completes(
    tmp_path: Path, stalling_imdb: tuple[Server, dict, bytes]
) -> None:
    server, sources, body = stalling_imdb
    repo = copy_repo(tmp_path / "repo")
    write_sources(repo, sources)
    env = stage_env(None)
    raw = repo / "data" / "raw"
    out = raw / IMDB
    before = files_under(raw)
    lock = (repo / "dvc.lock").read_bytes()
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(["dvc", "repro", "download_imdb"], cwd=repo, env=env,
                                stdout=log, stderr=log, start_new_session=True)
    wait_for(lambda: _partial_download(raw), "a partial download on disk")
    kill_group(proc)

    assert not out.exists()
    assert_only_ignored_scratch(repo, files_under(raw) - before, out)
    assert (repo / "dvc.lock").read_bytes() == lock
    # nothing was cached but the listing DVC keeps of a directory dep (stages/common)
    assert {p for p in files_under(repo / ".dvc" / "cache") if p.suffix != ".dir"} == set()
    assert UP_TO_DATE not in dvc(repo, env, "status", "download_imdb")

    server.release.set()
    dvc(repo, env, "repro", "download_imdb")  # no stale DVC lock blocks it
    assert out.read_bytes() == body
    assert files_under(raw) == before | {out}
    assert UP_TO_DATE in dvc(repo, env, "status", "download_imdb")


def _limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_write_limit_mid_file_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes a real write fail half-way (EFBIG), like a full disk, even for root.
    reviews = imdb_reviews(per_class=2)
    reviews["train/unsup/1_0.txt"] = np.random.default_rng(0).bytes(MIB)
    sources = build_mirror(tmp_path / "mirror", reviews=reviews)
    repo = copy_repo(tmp_path / "repo")
    write_sources(repo, sources)
    raw = repo / "data" / "raw"
    before = files_under(raw)
    proc = subprocess.run(
        [sys.executable, "-m", "stages.download", "imdb"], cwd=repo,
        env=stage_env(tmp_path / "mirror"), capture_output=True, text=True, timeout=120,
        preexec_fn=_limit_file_size(MIB // 2),
    )
    assert proc.returncode == 1
    assert proc.stderr.endswith(
        f"ERROR download_imdb: cannot write {raw / IMDB}: "
        "[Errno 27] File too large\n"
    )
    assert "Traceback" not in proc.stderr
    assert files_under(raw) == before


def _runs_by_status(store: str) -> dict[str, list[str]]:
    """status -> the names of the "translation" runs in ``store`` with that status."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("translation")
    found: dict[str, list[str]] = {}
    for run in client.search_runs([experiment.experiment_id]):
        found.setdefault(run.info.status, []).append(run.info.run_name)
    return found


def set_epochs(repo: Path, family: str, epochs: int) -> None:
    """Set ``translate.<family>.epochs`` in the params.yaml of ``repo``."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["translate"][family]["epochs"] = epochs
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def test_sigkill_mid_training_leaves_no_model_or_metrics_then_repro_completes(
    reproduced: Reproduced, tmp_path: Path,
) -> None:
    """In a copy of the session's reproduced repo (``reproduced``): the killed run cannot end by
    itself (``KILLED_EPOCHS`` one-step epochs), so the SIGKILL at its second epoch races nothing.
    The next ``dvc repro`` trains ``EPOCHS`` and marks the killed run's MLflow run KILLED."""
    repo = tmp_path / "repo"
    shutil.copytree(reproduced.repo, repo, symlinks=True)
    set_epochs(repo, "seq2seq", KILLED_EPOCHS)
    store = sqlite_store(tmp_path / "mlflow.db")
    env = {**reproduced.env, "PYTHONUNBUFFERED": "1", "MLFLOW_TRACKING_URI": store}
    outputs = {"model": repo / "models" / "seq2seq", "metrics": repo / "metrics" / "seq2seq.json",
               "plots": repo / "metrics" / "plots" / "seq2seq"}
    kept = {p for p in files_under(repo / "models") | files_under(repo / "metrics")
            if not any(p == out or out in p.parents for out in outputs.values())}
    assert [name for name, path in outputs.items() if not path.exists()] == []  # the last run's
    lock = (repo / "dvc.lock").read_bytes()
    log_path = tmp_path / "killed.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["dvc", "repro", "train_translator@seq2seq"], cwd=repo, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    marker = f"Epoch 2/{KILLED_EPOCHS}"
    wait_for(lambda: marker in log_path.read_text(errors="replace"), marker, 180)
    kill_group(proc)

    # DVC removed the outputs of the previous run before starting; the killed run wrote none.
    assert [name for name, path in outputs.items() if path.exists()] == []
    assert files_under(repo / "models") | files_under(repo / "metrics") == kept
    assert (repo / "dvc.lock").read_bytes() == lock
    assert UP_TO_DATE not in dvc(repo, env, "status", "train_translator@seq2seq")
    assert _runs_by_status(store) == {"RUNNING": ["seq2seq"]}  # a SIGKILL ends no run

    set_epochs(repo, "seq2seq", EPOCHS)
    dvc(repo, env, "repro", "train_translator@seq2seq")
    assert (outputs["model"] / "model.keras").is_file()
    metrics = json.loads(outputs["metrics"].read_text())
    assert set(metrics) == {"exact_match", "char_accuracy", "loss"}
    assert (outputs["plots"] / "history.csv").read_text().count("\n") == EPOCHS + 1
    assert UP_TO_DATE in dvc(repo, env, "status", "train_translator@seq2seq")
    # The killed run could not end itself; the next run of the stage marked it KILLED.
    assert _runs_by_status(store) == {"FINISHED": ["seq2seq"], "KILLED": ["seq2seq"]}
