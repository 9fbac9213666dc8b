"""``dvc repro`` of the data stages in a temporary copy of the repo, against a fixture mirror."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.repo_fixtures import build_mirror, copy_repo, dvc, stage_env, write_sources

pytestmark = pytest.mark.e2e

DATA_STAGES = ["embeddings", "tokenize_translate"]


def test_dvc_repro_data_stages_then_noop(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_repo(repo)
    sources = build_mirror(tmp_path / "mirror")
    write_sources(repo, sources)
    env = stage_env(tmp_path / "mirror")

    dvc(repo, env, "repro", *DATA_STAGES)

    matrix = np.load(repo / "data" / "prepared" / "embeddings.npy")
    assert matrix.shape[1] == 50
    assert not matrix[0].any()
    assert (repo / "data" / "raw" / "translate.csv").read_bytes() == (
        tmp_path / "mirror" / "translate.csv"
    ).read_bytes()
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    assert {"download_imdb", "prepare_imdb", "vectorize", "embeddings",
            "tokenize_translate"} <= set(lock["stages"])

    status = dvc(repo, env, "status", "--with-deps", *DATA_STAGES)
    assert "Data and pipelines are up to date." in status
    before = {p: p.stat().st_mtime_ns for p in (repo / "data").rglob("*") if p.is_file()}
    again = dvc(repo, env, "repro", *DATA_STAGES)
    assert "Running stage" not in again
    after = {p: p.stat().st_mtime_ns for p in (repo / "data").rglob("*") if p.is_file()}
    assert after == before
