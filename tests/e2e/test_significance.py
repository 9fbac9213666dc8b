"""``python -m stages.significance`` in a temporary git + DVC repo with synthetic predictions.

The repo has one DVC stage writing ``metrics/predictions/demo.npz`` (git-tracked, ``cache:
false``) from params.yaml's ``gained``: 1,000 reviews, right on the first 800 plus the next
``gained``. Commits: ``gained: 0`` then ``gained: 60``; then an experiment ``exp-62``
(``dvc exp run -S gained=62``); then the workspace file is edited by hand (5 reviews lost,
7 gained). Expected numbers are worked out by hand in each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stages.commands.significance import main
from stages.evaluation.predictions import predictions_bytes
from tests.conftest import REPO_ROOT
from tests.repo_fixtures import dvc, git, stage_env

pytestmark = pytest.mark.e2e

N = 1000
PATH = Path("metrics/predictions/demo.npz")
LABELS = np.random.default_rng(0).integers(0, 2, N).astype(np.int8)

MAKE = """\
import numpy as np, yaml
from stages.evaluation.predictions import save_predictions
from tests.e2e.test_significance import LABELS, probabilities
gained = yaml.safe_load(open("params.yaml"))["gained"]
save_predictions("metrics/predictions/demo.npz", LABELS, probabilities(range(800 + gained)))
"""
DVC_YAML = """\
stages:
  predict:
    cmd: python make.py
    params: [gained]
    outs:
      - metrics/predictions/demo.npz:
          cache: false
"""


def probabilities(right) -> np.ndarray:
    """P(positive) that classifies exactly the reviews ``right`` correctly."""
    correct = np.zeros(N, bool)
    correct[list(right)] = True
    return np.where(correct == (LABELS == 1), 0.9, 0.1)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sig")
    env = stage_env(None, PYTHONPATH=str(REPO_ROOT))
    git(root, "init", "-q")
    dvc(root, env, "init", "-q")
    (root / "make.py").write_text(MAKE)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / PATH.parent).mkdir(parents=True)
    for gained in (0, 60):
        (root / "params.yaml").write_text(f"gained: {gained}\n")
        dvc(root, env, "repro", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"gained {gained}")
    dvc(root, env, "exp", "run", "-q", "-n", "exp-62", "-S", "gained=62")
    workspace = [*range(5, 860), *range(860, 867)]
    (root / PATH).write_bytes(predictions_bytes(LABELS, probabilities(workspace)))
    return root


def _logged(capsys, marker: str) -> list[str]:
    err = capsys.readouterr().err.splitlines()
    return [line.split(marker, 1)[1] for line in err if marker in line]


def _messages(capsys) -> list[str]:
    """The report main() logged to stderr, without the time/level/module prefix."""
    return _logged(capsys, " INFO stages.commands.significance: ")


def _errors(capsys) -> list[str]:
    """The one-line errors the stage entry point logged to stderr."""
    return _logged(capsys, " ERROR significance: ")


def test_commits_significant(repo, capsys):
    assert main(["demo", "--a", "HEAD~1", "--b", "HEAD", "--repo", str(repo)]) == 0
    lines = _messages(capsys)
    assert lines[:3] == [
        "demo on 1000 test reviews",
        "A HEAD~1: accuracy 0.80000",
        "B HEAD: accuracy 0.86000",
    ]
    assert lines[3].startswith("B - A: +0.06000, 95 % paired bootstrap interval [+0.04")
    # 60 discordant reviews, all B's: p = 2 * 0.5 ** 60.
    assert lines[4] == (
        f"McNemar exact test: 0 reviews only A gets right, 60 only B, p = {2 * 0.5**60:.4g}"
    )
    assert lines[5] == "significant at 0.05: HEAD is more accurate"


def test_head_vs_workspace_not_significant(repo, capsys):
    assert main(["demo", "--repo", str(repo)]) == 0
    lines = _messages(capsys)
    assert lines[1:3] == ["A HEAD: accuracy 0.86000", "B workspace: accuracy 0.86200"]
    # 5 only A, 7 only B: p = 2 * P(X <= 5 | 12, 1/2) = 2 * 1586 / 4096.
    assert lines[4] == (
        f"McNemar exact test: 5 reviews only A gets right, 7 only B, p = {2 * 1586 / 4096:.4g}"
    )
    assert lines[5] == "not significant at 0.05: the difference is within the test-set noise"


def test_experiment_name_resolves(repo, capsys):
    assert main(["demo", "--a", "HEAD", "--b", "exp-62", "--repo", str(repo)]) == 0
    lines = _messages(capsys)
    assert lines[2] == "B exp-62: accuracy 0.86200"
    # 2 discordant reviews, both B's: p = 2 * 0.25.
    assert lines[4] == "McNemar exact test: 0 reviews only A gets right, 2 only B, p = 0.5"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["demo", "--a", "nosuch"],
            "'nosuch' is neither a git revision nor a DVC experiment name",
        ),
        (["other"], "metrics/predictions/other.npz does not exist at revision 'HEAD'"),
        (
            ["other", "--a", "HEAD~1", "--b", "workspace"],
            "metrics/predictions/other.npz does not exist at revision 'HEAD~1'",
        ),
    ],
)
def test_errors_are_one_line(repo, capsys, argv, message):
    assert main([*argv, "--repo", str(repo)]) == 1
    assert _errors(capsys) == [message]


def test_missing_in_workspace_and_different_test_sets(tmp_path, repo, capsys):
    root = tmp_path / "copy"
    git(tmp_path, "clone", "-q", str(repo), str(root))
    assert main(["other", "--a", "HEAD", "--repo", str(root)]) == 1
    (root / PATH).write_bytes(predictions_bytes(LABELS[:999], np.zeros(999)))
    assert main(["demo", "--repo", str(root)]) == 1
    labels = LABELS.copy()
    labels[:3] = 1 - labels[:3]
    (root / PATH).write_bytes(predictions_bytes(labels, np.zeros(N)))
    assert main(["demo", "--repo", str(root)]) == 1
    assert _errors(capsys) == [
        "metrics/predictions/other.npz does not exist at revision 'HEAD'",
        "metrics/predictions/demo.npz: different test sets, 1000 reviews at 'HEAD' and 999 at "
        "'workspace'",
        "metrics/predictions/demo.npz: different test sets, the labels of 3 of 1000 reviews "
        "differ between 'HEAD' and 'workspace'",
    ]


def test_module_entry_point(repo):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.commands.significance", "demo", "--a", "HEAD~1",
         "--b", "HEAD"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert ": significant at 0.05: HEAD is more accurate\n" in proc.stderr
