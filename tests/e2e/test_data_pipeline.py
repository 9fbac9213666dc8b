"""``dvc repro`` of the data stages and a tiny translator in a temporary copy of the repo, against
a fixture mirror, once for the module; then its outputs travel through a DVC remote into a fresh
clone.

That run also shows that healthy stages print no error-looking line nor library noise: the
download, data, tokenize and train stages, a Keras fit, and a new MLflow sqlite store (the
default one, in the copy: its migrations are the alembic/MLflow deprecation noise of a first
run); a failing one still prints its message.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
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


# What a user can do nothing about: TF C++/absl logs and CUDA probing on a CPU machine, oneDNN
# notices, MLflow's missing-signature warning, Python warnings (deprecations among them).
FORBIDDEN = re.compile(
    r"error|E0000|I0000|W0000|absl|cpu_feature_guard|cudart_stub|cuInit|oneDNN|signature"
    r"|Warning",
    re.IGNORECASE,
)


def quiet_env(mirror: Path | None) -> dict[str, str]:
    """The stages' environment with their own defaults: the default MLflow store (new, inside
    the copy) and TensorFlow's log level as the stages set it, not the caller's."""
    env = stage_env(mirror)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def run(repo: Path, env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in ``repo`` with stdout and stderr interleaved in ``.stdout``."""
    return subprocess.run(cmd, cwd=repo, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


@dataclass
class Pipeline:
    """The copy after ``dvc repro TARGETS``, its stage environment and what the run printed."""

    repo: Path
    env: dict[str, str]
    output: str


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """A repo copy where ``dvc repro`` ran ``TARGETS`` (and their upstream stages) once."""
    root = tmp_path_factory.mktemp("pipeline")
    repo = copy_repo(root / "repo")
    write_sources(repo, build_mirror(root / "mirror"))
    tiny_translators(repo, "seq2seq")
    env = quiet_env(root / "mirror")
    proc = run(repo, env, "dvc", "repro", *TARGETS)
    assert proc.returncode == 0, proc.stdout
    return Pipeline(repo, env, proc.stdout)


def _files(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_dvc_repro_data_stages_then_noop(pipeline: Pipeline) -> None:
    repo, env = pipeline.repo, pipeline.env
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
    pipeline: Pipeline, tmp_path: Path
) -> None:
    repo, env = pipeline.repo, pipeline.env
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


def test_healthy_stages_print_no_noise(pipeline: Pipeline) -> None:
    for stage in ("download_imdb", "prepare_imdb", "vectorize", "download_glove", "embeddings",
                  "download_translate", "tokenize_translate", "train_translator@seq2seq"):
        assert f"Running stage '{stage}'" in pipeline.output
    noisy = [line for line in pipeline.output.splitlines() if FORBIDDEN.search(line)]
    assert noisy == [], "\n".join(noisy)
    assert (pipeline.repo / "mlflow.db").is_file()


def test_failing_stage_still_prints_its_message(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo")
    params_file = repo / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["translate"]["seq2seq"]["epochs"] = 0
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    proc = run(repo, quiet_env(None), sys.executable, "-m", "stages.train_translator",
               "--family", "seq2seq")
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
