"""The data stages and a tiny translator as ``dvc repro`` ran them in the session's copy of the
repo (``reproduced``, tests/e2e/conftest.py: ``dvc repro compare`` against a fixture mirror): a
rerun is a no-op, and the outputs travel through a DVC remote into a fresh clone.

That run also shows that healthy stages print no error-looking line nor library noise: the
download, data, tokenize and training stages, Keras fits, and a new MLflow sqlite store (the
default one, in the copy: its migrations are the alembic/MLflow deprecation noise of a first
run); a failing one still prints its message.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.e2e.conftest import Reproduced
from tests.repo_fixtures import copy_repo, dvc, git, stage_env

pytestmark = pytest.mark.e2e

TARGETS = ["embeddings", "tokenize_translate", "train_translator@seq2seq"]
UP_TO_DATE = "Data and pipelines are up to date."
# What a user can do nothing about: TF C++/absl logs and CUDA probing on a CPU machine, oneDNN
# notices, MLflow's missing-signature warning, Python warnings (deprecations among them).
FORBIDDEN = re.compile(
    r"error|E0000|I0000|W0000|absl|cpu_feature_guard|cudart_stub|cuInit|oneDNN|signature"
    r"|Warning",
    re.IGNORECASE,
)


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_dvc_repro_data_stages_then_noop(reproduced: Reproduced) -> None:
    repo, env = reproduced.repo, reproduced.env
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
    reproduced: Reproduced, tmp_path: Path
) -> None:
    env = reproduced.env
    repo = tmp_path / "repo"  # a copy: the remote (committed) is not the session copy's
    shutil.copytree(reproduced.repo, repo, symlinks=True)
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


def stage_outputs(output: str) -> dict[str, list[str]]:
    """The lines ``dvc repro`` printed for each stage it ran (from its "Running stage" line)."""
    sections: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in output.splitlines():
        if found := re.match(r"Running stage '([^']+)'", line):
            lines = sections.setdefault(found.group(1), [])
        lines.append(line)
    return sections


def test_healthy_stages_print_no_noise(reproduced: Reproduced) -> None:
    """The download, data and translator stages (a Keras fit, the first run in a new store)."""
    printed = stage_outputs(reproduced.output)
    noisy = {}
    for stage in ("download_imdb", "prepare_imdb", "vectorize", "download_glove", "embeddings",
                  "download_translate", "tokenize_translate", "train_translator@seq2seq",
                  "train_translator@seq2seq_attention"):
        noisy[stage] = [line for line in printed[stage] if FORBIDDEN.search(line)]
    assert noisy == dict.fromkeys(noisy, []), noisy
    assert (reproduced.repo / "mlflow.db").is_file()


def test_failing_stage_still_prints_its_message(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["translate"]["seq2seq"]["epochs"] = 0
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    env = stage_env(None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the stage's own default
    proc = subprocess.run([sys.executable, "-m", "stages.train_translator", "--family", "seq2seq"],
                          cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    assert proc.returncode == 1, proc.stdout
    message = f"{params_file}: params: translate.seq2seq.epochs: must be > 0, got 0"
    errors = [line for line in proc.stdout.splitlines() if " ERROR " in line]
    assert [line.split(": ", 1)[1] for line in errors] == [message], proc.stdout


def test_filtered_stderr_drops_only_matching_lines_written_to_fd_2() -> None:
    """C/C++ code writes to file descriptor 2 directly: the filter works at that level."""
    code = (
        "import os, re\n"
        "from stages.common.logs import filtered_stderr\n"
        "with filtered_stderr(re.compile(rb'^I0000 ')):\n"
        "    os.write(2, b'I0000 port.cc] notice\\nE0000 real failure\\n')\n"
        "os.write(2, b'I0000 after the block\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "E0000 real failure\nI0000 after the block\n"
