"""Adding a sentiment family touches three files: in a temporary copy of the repo, a throw-away
family (binary bag of words + logistic regression) gets its module, its params.yaml section and
its dvc.yaml line, as docs/families.md says, and nothing else. DVC then has its stage, links
compare to it, the registry and dependency checks pass in the copy, and it trains for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import pandas as pd
import pytest
import yaml

from tests.classifier_fixtures import write_prepared
from tests.repo_fixtures import copy_repo, dvc, git, stage_env

pytestmark = pytest.mark.e2e

FAMILY = "bow_logreg"
MODULE = '''"""The ``bow_logreg`` family: binary bag of words + logistic regression."""

from __future__ import annotations

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from stages.common.config import Int, PosFloat, model
from stages.families.registry import Reference
from stages.models.features import text_features

KIND = "sklearn_sentiment"
INPUTS = ("imdb",)
REFERENCE = Reference(source="a test family", anchor="0.5", accuracy=0.5)

features = text_features


@model
class Params:
    """``train.bow_logreg``."""

    seed: Int
    C: PosFloat


def build(cfg: Params) -> Pipeline:
    return Pipeline([("bow", CountVectorizer(binary=True)),
                     ("logreg", LogisticRegression(C=cfg.C, random_state=cfg.seed))])
'''
DVC_LINE = (f"      {FAMILY}: {{module: stages/families/{FAMILY}.py, helper: "
            f"stages/families/{FAMILY}.py,\n"
            "                   trainer: stages/models/sklearn_fit.py,\n"
            "                   data: data/prepared/imdb, more: data/prepared/imdb}\n")


def add_family(repo: Path) -> None:
    """The three edits of docs/families.md's checklist."""
    (repo / "stages" / "families" / f"{FAMILY}.py").write_text(MODULE, encoding="utf-8")
    section = f"\n  {FAMILY}:\n    seed: 1\n    C: 1.0\n"
    edit(repo / "params.yaml", "\n\ntranslate:", f"{section}\ntranslate:")
    edit(repo / "dvc.yaml", "}\n\nstages:\n", "}\n" + DVC_LINE + "\nstages:\n")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of the repo with the throw-away family added on top, uncommitted."""
    repo = copy_repo(tmp_path_factory.mktemp("add_family") / "repo")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    add_family(repo)
    return repo


def run_in(repo: Path, *args: str, env: dict[str, str] | None = None) -> CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=repo, env=stage_env(None, **(env or {})),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_three_files_change(added: Path) -> None:
    changed = sorted(line[3:] for line in git(added, "status", "--porcelain").splitlines())
    assert changed == ["dvc.yaml", "params.yaml", f"stages/families/{FAMILY}.py"]


def test_dvc_has_its_stage_and_links_compare_to_it(added: Path) -> None:
    assert f"train@{FAMILY}" in dvc(added, stage_env(None), "stage", "list", "--name-only")
    upstream = dvc(added, stage_env(None), "dag", "--full", "compare", "--dot")
    assert f'"train@{FAMILY}" -> "compare"' in upstream


def test_the_registry_and_dependency_checks_pass_with_it(added: Path) -> None:
    proc = run_in(added, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "tests/unit/test_registry.py", "tests/unit/test_dvc_deps.py")
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    refs = run_in(added, "-c", "from stages.compare import references; "
                               "print(list(references()['sentiment']))")
    assert refs.stdout.split("'")[-2] == FAMILY


def test_it_trains_and_writes_what_compare_reads(added: Path, tmp_path: Path) -> None:
    write_prepared(added / "data" / "prepared")
    run_in(added, "-m", "stages.train_classifier", "--family", FAMILY,
           env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    metrics = json.loads((added / "metrics" / f"{FAMILY}.json").read_text(encoding="utf-8"))
    assert metrics["accuracy"] > 0.8
    assert sum(metrics[key] for key in ("tn", "fp", "fn", "tp")) == 160
    history = pd.read_csv(added / "metrics" / "history" / f"{FAMILY}.csv")
    assert list(history.columns[:5]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert (added / "metrics" / "predictions" / f"{FAMILY}.npz").is_file()
    assert yaml.safe_load((added / "models" / FAMILY / "run.json").read_text())["param_count"] > 0
