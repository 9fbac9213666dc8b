"""A healthy TensorFlow stage prints no error-looking line nor library noise; a failing one still
prints its message.

One ``dvc repro`` of a tiny translator in a temporary repo copy: the download, tokenize and train
stages, a Keras fit, and a new MLflow sqlite store (its migrations are the alembic/MLflow
deprecation noise of a first run).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.repo_fixtures import build_mirror, copy_repo, stage_env, tiny_translators, write_sources

pytestmark = pytest.mark.e2e

FAMILY = "seq2seq"
# What a user can do nothing about: TF C++/absl logs and CUDA probing on a CPU machine, oneDNN
# notices, MLflow's missing-signature warning, Python warnings (deprecations among them).
FORBIDDEN = re.compile(
    r"error|E0000|I0000|W0000|absl|cpu_feature_guard|cudart_stub|cuInit|oneDNN|signature"
    r"|Warning",
    re.IGNORECASE,
)


def run(repo: Path, env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in ``repo`` with stdout and stderr interleaved in ``.stdout``."""
    return subprocess.run(cmd, cwd=repo, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A repo copy with a fixture mirror and one tiny translator family; its stage environment."""
    root = tmp_path_factory.mktemp("quiet")
    repo = copy_repo(root / "repo")
    sources = build_mirror(root / "mirror")
    write_sources(repo, sources)
    tiny_translators(repo, FAMILY)
    env = stage_env(root / "mirror")
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store: new, inside the copy
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the stages' own default, not the caller's
    return repo, env


def test_healthy_tensorflow_stage_prints_no_noise(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    proc = run(path, env, "dvc", "repro", f"train_translator@{FAMILY}")
    assert proc.returncode == 0, proc.stdout
    assert f"Running stage 'train_translator@{FAMILY}'" in proc.stdout
    noisy = [line for line in proc.stdout.splitlines() if FORBIDDEN.search(line)]
    assert noisy == [], "\n".join(noisy)
    assert (path / "mlflow.db").is_file()


def test_failing_stage_still_prints_its_message(repo: tuple[Path, dict[str, str]]) -> None:
    path, env = repo
    params_file = path / "params.yaml"
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    params["translate"][FAMILY]["epochs"] = 0
    params_file.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    proc = run(path, env, sys.executable, "-m", "stages.train_translator", "--family", FAMILY)
    assert proc.returncode == 1, proc.stdout
    message = f"{params_file}: params: translate.{FAMILY}.epochs: must be > 0, got 0"
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
