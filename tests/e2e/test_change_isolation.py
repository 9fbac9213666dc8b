"""The family is the unit of change: in a temporary copy of the repo whose dvc.lock matches its
code, a line appended to a module makes ``dvc status`` report changed deps for exactly the
stages that run that module (expected sets from the registry, not from dvc.yaml)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.repo import Repo

from stages.families import registry
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

DVC = str(Path(sys.executable).with_name("dvc"))
COPIED = ("stages", "metrics", "dvc.yaml", "params.yaml", ".dvcignore")


def training_stage(family: str) -> str:
    prefix = "train_translator" if registry.spec(family).kind == "translator" else "train"
    return f"{prefix}@{family}"


def train_stages(*kinds: registry.Kind) -> set[str]:
    return {training_stage(family) for family in registry.names(*kinds)}


def family_cases() -> dict[str, set[str]]:
    """Each family module -> the training stages of the families that run it (their own, and
    one whose module builds on it), and compare (which reads every family's reference)."""
    cases: dict[str, set[str]] = {}
    for family in registry.names():
        module = registry.spec(family).load()
        used = {module.__name__} | {getattr(v, "__module__", "") for v in vars(module).values()}
        for name in used & {f"stages.families.{m}" for m in registry.modules()}:
            path = name.replace(".", "/") + ".py"
            cases.setdefault(path, {"compare"}).add(training_stage(family))
    return cases


KERAS = train_stages("keras_sentiment")
CASES = {
    **family_cases(),
    # the fit loops, each run by its kind's families only
    "stages/models/keras/fit.py": KERAS,
    # compare imports every family's module, whose builders import the layers
    "stages/models/keras/layers.py": KERAS | {"compare"},
    "stages/models/sklearn_fit.py": train_stages("sklearn_sentiment"),
    "stages/models/translator_fit.py": train_stages("translator"),
    # shared infrastructure: the training stages log runs, compare reads the store and stats
    "stages/tracking/runs.py": train_stages("keras_sentiment", "sklearn_sentiment", "translator"),
    "stages/evaluation/stats.py": {"compare"},
}


def placeholder(path: Path) -> None:
    """An empty stand-in for a missing DVC dep or out (a directory unless it has a suffix)."""
    if path.exists():
        return
    if path.suffix:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    else:
        path.mkdir(parents=True)
        (path / "placeholder").write_bytes(b"")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the code and pipeline, data stood in by placeholders, every stage committed."""
    root = tmp_path_factory.mktemp("isolation")
    for name in COPIED:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    (root / ".dvc").mkdir()
    shutil.copy2(REPO_ROOT / ".dvc" / "config", root / ".dvc" / "config")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    with Repo(str(root)) as dvc_repo:
        for stage in dvc_repo.index.stages:
            for item in (*stage.deps, *stage.outs):
                placeholder(Path(item.fs_path))
    subprocess.run([DVC, "commit", "-f", "-q"], cwd=root, check=True, capture_output=True)
    return root


def stages_with_changed_deps(root: Path) -> set[str]:
    proc = subprocess.run([DVC, "status", "--json"], cwd=root, check=True, capture_output=True,
                          text=True)
    status = json.loads(proc.stdout)
    return {stage for stage, changes in status.items()
            if any(isinstance(c, dict) and "changed deps" in c for c in changes)}


def test_the_committed_copy_is_up_to_date(repo: Path) -> None:
    assert stages_with_changed_deps(repo) == set()


@pytest.mark.parametrize("path", CASES)
def test_an_edit_changes_only_the_stages_that_run_the_module(repo: Path, path: str) -> None:
    file = repo / path
    original = file.read_bytes()
    file.write_bytes(original + b"# edited\n")
    try:
        assert stages_with_changed_deps(repo) == CASES[path]
    finally:
        file.write_bytes(original)
