"""``dvc repro`` of the data stages and a tiny translator in a temporary copy of the repo, against
a fixture mirror; then its outputs travel through a DVC remote into a fresh clone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.repo_fixtures import (
    build_mirror,
    copy_repo,
    dvc,
    git,
    stage_env,
    tiny_translators,
    write_sources,
)

pytestmark = pytest.mark.e2e

TARGETS = ["embeddings", "tokenize_translate", "train_translator@seq2seq"]
UP_TO_DATE = "Data and pipelines are up to date."


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A repo copy where ``dvc repro`` ran ``TARGETS`` (and their upstream stages) once."""
    root = tmp_path_factory.mktemp("pipeline")
    repo = copy_repo(root / "repo")
    write_sources(repo, build_mirror(root / "mirror"))
    tiny_translators(repo, "seq2seq")
    env = stage_env(root / "mirror", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    dvc(repo, env, "repro", *TARGETS)
    return repo, env


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_dvc_repro_data_stages_then_noop(pipeline: tuple[Path, dict[str, str]]) -> None:
    repo, env = pipeline
    matrix = np.load(repo / "data" / "prepared" / "embeddings.npy")
    assert matrix.shape[1] == 50
    assert not matrix[0].any()
    mirror = Path(env["NLP_DATA_MIRROR"])
    assert (repo / "data" / "raw" / "translate.csv").read_bytes() == (
        mirror / "translate.csv"
    ).read_bytes()
    assert (repo / "models" / "seq2seq" / "model.keras").is_file()
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    assert {"download_imdb", "prepare_imdb", "vectorize", *TARGETS} <= set(lock["stages"])

    assert UP_TO_DATE in dvc(repo, env, "status", "--with-deps", *TARGETS)
    before = _files(repo / "data") | _files(repo / "models")
    again = dvc(repo, env, "repro", *TARGETS)
    assert "Running stage" not in again
    assert _files(repo / "data") | _files(repo / "models") == before


def test_push_clone_pull_gives_clean_status_without_rerunning(
    pipeline: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, env = pipeline
    dvc(repo, env, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    dvc(repo, env, "push", "--with-deps", *TARGETS)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipeline run on fixtures")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert not (clone / "models" / "seq2seq").exists()  # outputs are not in git

    pulled = dvc(clone, env, "pull", "--with-deps", *TARGETS)
    assert "added" in pulled
    assert UP_TO_DATE in dvc(clone, env, "status", "--with-deps", *TARGETS)
    for rel in ("models/seq2seq/model.keras", "data/prepared/embeddings.npy",
                "data/prepared/translate/tokens.npz", "data/raw/aclImdb_v1.tar.gz"):
        assert (clone / rel).read_bytes() == (repo / rel).read_bytes(), rel
    metrics = json.loads((clone / "metrics" / "seq2seq.json").read_text())  # from git
    assert metrics == json.loads((repo / "metrics" / "seq2seq.json").read_text())
    assert "Running stage" not in dvc(clone, env, "repro", *TARGETS)
