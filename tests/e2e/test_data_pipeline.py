"""``dvc repro`` of the data stages in a temporary copy of the repo, against a fixture mirror."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.archive_fixtures import glove_text, imdb_reviews, readme_fingerprint, write_imdb_tar, write_zip
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

DATA_STAGES = ["embeddings", "tokenize_translate"]
TRANSLATE_ROWS = [("cat", "고양이"), ("dog", "개"), ("water", "물")]


def copy_repo(dest: Path) -> None:
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


def build_mirror(mirror: Path) -> dict:
    """Write the fixture inputs under their official names; return sources.yaml for them."""
    mirror.mkdir()
    reviews = imdb_reviews(per_class=10)
    write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews)
    words = ["review", "of", "train", "test", "pos", "neg", "café", "unseen"]
    vectors = glove_text(50, words=len(words)).decode().splitlines()
    glove = "".join(f"{w} {line.split(' ', 1)[1]}\n" for w, line in zip(words, vectors))
    write_zip(mirror / "glove.6B.zip", {"glove.6B.50d.txt": glove.encode()})
    csv = "\ufeff" + "".join(f"{en},{ko}\r\n" for en, ko in TRANSLATE_ROWS)
    (mirror / "translate.csv").write_bytes(csv.encode("utf-8"))
    with open(REPO_ROOT / "stages" / "sources.yaml", encoding="utf-8") as fh:
        sources = yaml.safe_load(fh)
    sources["imdb"].update(reviews_per_class=10, fingerprint=readme_fingerprint(reviews))
    sources["glove"].update(words=len(words),
                            member_sha256={50: hashlib.sha256(glove.encode()).hexdigest()})
    sources["translate"]["sha256"] = hashlib.sha256(csv.encode("utf-8")).hexdigest()
    return sources


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(["dvc", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_dvc_repro_data_stages_then_noop(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    copy_repo(repo)
    sources = build_mirror(tmp_path / "mirror")
    (repo / "stages" / "sources.yaml").write_text(yaml.safe_dump(sources), encoding="utf-8")
    env = dict(os.environ, NLP_DATA_MIRROR=str(tmp_path / "mirror"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

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
