"""The e2e tests' one full pipeline run: ``dvc repro compare`` with every family at tiny size, in a
committed copy of the repo against a fixture mirror, once per session.

test_compare_pipeline reads what it wrote (summary, plots, registry, predictions, the UI),
test_data_pipeline its data stages (a no-op rerun, a DVC remote, a clean output), test_faults
copies it to kill a training. The stages run with their own defaults: the default MLflow store
(new, inside the copy) and TensorFlow's log level as the stages set it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from stages.families.registry import sentiment_families, translator_families
from tests.classifier_fixtures import tiny_train
from tests.repo_fixtures import (
    GIT_IDENTITY,
    TINY_TRANSLATOR,
    build_mirror,
    copy_repo,
    git,
    stage_env,
    write_sources,
)


@dataclass
class Reproduced:
    """The committed copy after ``dvc repro compare``, its stage environment (``mirror`` in it)
    and what the run printed (stdout and stderr interleaved)."""

    repo: Path
    env: dict[str, str]
    output: str


def tiny_families(repo: Path) -> None:
    """Every sentiment and translator family of the copy at tiny, seconds-long sizes."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["train"] = tiny_train()
    params["translate"] = dict.fromkeys(translator_families(),
                                        {**TINY_TRANSLATOR, "epochs": 3})
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Reproduced:
    """A committed copy after ``dvc repro compare``, runs in its default store ``mlflow.db``.
    Tests that change it work in a copy of it (``shutil.copytree``), or restore what they
    changed."""
    root = tmp_path_factory.mktemp("compare")
    repo = copy_repo(root / "repo")
    for stale in ("models", "metrics/plots", "metrics/history", "mlflow.db", "mlartifacts"):
        shutil.rmtree(repo / stale, ignore_errors=True)  # the source checkout's, run by hand
    families = (*sentiment_families(), *translator_families())
    for name in [f"{family}.json" for family in families] + ["summary.md"]:
        (repo / "metrics" / name).unlink(missing_ok=True)
    write_sources(repo, build_mirror(root / "mirror"))
    tiny_families(repo)
    env = stage_env(root / "mirror", **GIT_IDENTITY)
    env.pop("MLFLOW_TRACKING_URI", None)  # the default store: new, inside the copy
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the stages' own default, not the caller's
    proc = subprocess.run(["dvc", "repro", "compare"], cwd=repo, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "Running stage 'compare'" in proc.stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "repro")
    return Reproduced(repo, env, proc.stdout)
