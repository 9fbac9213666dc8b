"""Temporary copies of the repo with a fixture mirror, and ``dvc`` run inside them (e2e tests)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.archive_fixtures import (
    glove_text,
    imdb_reviews,
    readme_fingerprint,
    write_imdb_tar,
    write_zip,
)
from tests.conftest import REPO_ROOT, START_ENV

QUEUE_STATES = ("Queued", "Running", "Success", "Failed")  # of ``dvc queue status``
# DVC's TaskStatus of an experiment that ended (SUCCESS, FAILED, CANCELED, FINISHED).
ENDED_TASKS = {3, 4, 5, 6}
# DVC commits every experiment, git commits the copies: no global git identity needed.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
TRANSLATE_ROWS = [("cat", "고양이"), ("dog", "개"), ("water", "물")]
# Small translators: a few seconds per DVC stage run, still a real fit, save and MLflow run.
TINY_TRANSLATOR = {"seed": 0, "embedding_dim": 8, "units": 16, "epochs": 5, "batch_size": 4,
                   "learning_rate": 0.05}


def copy_repo(dest: Path) -> Path:
    """Copy the files git knows about (tracked or new, not ignored) into ``dest``; git init it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def build_mirror(mirror: Path, *, reviews: dict[str, bytes] | None = None) -> dict:
    """Write the fixture inputs under their official names; return sources.yaml for them.

    Args:
        mirror: directory to create.
        reviews: IMDB reviews (paths relative to ``aclImdb/``); default 10 per labeled class.
            Members outside the labeled folders (e.g. ``train/unsup/``) are archived but left
            out of the fingerprint, as the stage does.
    """
    mirror.mkdir()
    reviews = reviews if reviews is not None else imdb_reviews(per_class=10)
    write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews)
    labeled = {p: data for p, data in reviews.items() if "/unsup/" not in p}
    words = ["review", "of", "train", "test", "pos", "neg", "café", "unseen"]
    vectors = glove_text(50, words=len(words)).decode().splitlines()
    pairs = zip(words, vectors, strict=True)
    glove = "".join(f"{w} {line.split(' ', 1)[1]}\n" for w, line in pairs)
    write_zip(mirror / "glove.6B.zip", {"glove.6B.50d.txt": glove.encode()})
    csv = "\ufeff" + "".join(f"{en},{ko}\r\n" for en, ko in TRANSLATE_ROWS)
    (mirror / "translate.csv").write_bytes(csv.encode("utf-8"))
    with open(REPO_ROOT / "stages" / "sources.yaml", encoding="utf-8") as fh:
        sources = yaml.safe_load(fh)
    sources["imdb"].update(reviews_per_class=len(labeled) // 4,
                           fingerprint=readme_fingerprint(labeled))
    sources["glove"].update(words=len(words),
                            member_sha256={50: hashlib.sha256(glove.encode()).hexdigest()})
    sources["translate"]["sha256"] = hashlib.sha256(csv.encode("utf-8")).hexdigest()
    return sources


def write_sources(repo: Path, sources: dict) -> None:
    """Replace ``stages/sources.yaml`` of the copy ``repo``."""
    (repo / "stages" / "sources.yaml").write_text(yaml.safe_dump(sources), encoding="utf-8")


def tiny_translators(repo: Path, *families: str, **overrides: int | float) -> None:
    """Keep only ``families`` in the copy's ``translate:`` params, each at ``TINY_TRANSLATOR``
    updated with ``overrides``."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["translate"] = {family: {**TINY_TRANSLATOR, **overrides} for family in families}
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def stage_env(mirror: Path | None, **extra: str) -> dict[str, str]:
    """Environment for ``dvc``/stage subprocesses: the session's (``START_ENV``), the venv first on
    PATH, ``$NLP_DATA_MIRROR``.

    ``mirror=None`` unsets the mirror (stages download from the URLs in sources.yaml).
    """
    env = dict(START_ENV, **extra)  # not what earlier tests left in os.environ
    env.pop("NLP_DATA_MIRROR", None)
    env.pop("MLFLOW_REGISTRY_URI", None)  # the registry is the tracking store
    if mirror is not None:
        env["NLP_DATA_MIRROR"] = str(mirror)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    """Run ``dvc *args`` in ``repo``; fail the test with its output unless it exits 0."""
    proc = subprocess.run(["dvc", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def git(repo: Path, *args: str) -> str:
    """Run ``git *args`` in ``repo`` (with a fixed identity); return its stdout."""
    env = dict(os.environ, **GIT_IDENTITY)
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    return proc.stdout


def queue_status(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """``dvc queue status``: experiment name -> Queued / Running / Success / Failed."""
    rows = map(str.split, dvc(repo, env, "queue", "status").splitlines())
    return {row[1]: row[-1] for row in rows if len(row) >= 4 and row[-1] in QUEUE_STATES}


def _tasks_ended(repo: Path, names: list[str]) -> bool:
    """Whether each experiment of ``names`` has an executor info file saying it ended: read from
    disk, where a ``dvc queue status`` process costs a second of CPU that the queue's workers
    need."""
    ended = set()
    for info_file in (repo / ".dvc" / "tmp" / "exps" / "run").glob("*/*.run"):
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # being written
            continue
        if info.get("collected") or info.get("status") in ENDED_TASKS:
            ended.add(info.get("name"))
    return set(names) <= ended


def wait_for_queue(repo: Path, env: dict[str, str], names: list[str], timeout: float
                   ) -> dict[str, str]:
    """Wait until no experiment of ``names`` is queued or running; return ``queue_status``.

    Polls the executors' info files, and ``dvc queue status`` (the answer) once they say every
    task ended, or every 30 s in case a task never wrote one; fails after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    checked = time.monotonic()
    while True:
        now = time.monotonic()
        if _tasks_ended(repo, names) or now - checked > 30:
            checked = now
            status = queue_status(repo, env)
            ours = [status.get(name) for name in names]
            if None not in ours and not {"Queued", "Running"} & set(ours):
                return status
        assert now < deadline, f"queue not done in {timeout} s: {queue_status(repo, env)}"
        time.sleep(1)
