"""An experiment travels between two clones through a bare git remote and a local DVC remote.

Clone A (a committed copy of the repo with the translate fixture) runs ``dvc exp run -n NAME``
of the tiny ``seq2seq`` translator and ``dvc exp push origin NAME``; clone B, a fresh ``git
clone`` of the bare remote, runs ``dvc exp pull origin NAME``, sees NAME with A's metrics in
``dvc exp show``, and ``dvc exp apply NAME`` + ``dvc pull`` restore A's outputs byte for byte.
The copy's pipeline is cut down to the translate stages and starts without the repo's dvc.lock
(outputs of the real data, in no cache here), so plain ``dvc pull`` and ``dvc status`` apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_exp_tracking import EPOCHS_KEY, FAMILY, STAGE, committed_copy, exp_metrics
from tests.repo_fixtures import dvc, git

pytestmark = pytest.mark.e2e

NAME = "exp-share"
TRANSLATE_STAGES = ("download_translate", "tokenize_translate", "train_translator")
OUTPUTS = (f"metrics/{FAMILY}.json", f"models/{FAMILY}/model.keras", f"models/{FAMILY}/vocab.json")


def translate_only(repo: Path) -> None:
    """Keep only the translate stages in the copy's dvc.yaml; drop its dvc.lock."""
    path = repo / "dvc.yaml"
    with open(path, encoding="utf-8") as fh:
        pipeline = yaml.safe_load(fh)
    stages = {k: v for k, v in pipeline["stages"].items() if k in TRANSLATE_STAGES}
    path.write_text(yaml.safe_dump({"stages": stages}, sort_keys=False), encoding="utf-8")
    (repo / "dvc.lock").unlink()


def with_remotes(repo: Path, env: dict[str, str], tmp_path: Path) -> Path:
    """Give ``repo`` a default local DVC remote (committed) and push it to a bare ``origin``."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    dvc(repo, env, "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote"))
    git(repo, "commit", "-qam", "shared DVC remote")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:main")
    return origin


def test_experiment_travels_to_another_clone(tmp_path: Path) -> None:
    repo_a, env = committed_copy(tmp_path)
    translate_only(repo_a)
    origin = with_remotes(repo_a, env, tmp_path)
    dvc(repo_a, env, "exp", "run", "-n", NAME, STAGE, "-S", f"{EPOCHS_KEY}=3")
    metrics = json.loads((repo_a / OUTPUTS[0]).read_text(encoding="utf-8"))
    dvc(repo_a, env, "exp", "push", "origin", NAME)

    git(tmp_path, "clone", "-q", "-b", "main", str(origin), str(tmp_path / "b"))
    repo_b = tmp_path / "b"
    assert not (repo_b / "models").exists()
    dvc(repo_b, env, "exp", "pull", "origin", NAME)
    assert exp_metrics(repo_b, env, NAME) == metrics
    dvc(repo_b, env, "exp", "apply", NAME)
    dvc(repo_b, env, "pull")
    for rel in OUTPUTS:
        assert (repo_b / rel).read_bytes() == (repo_a / rel).read_bytes(), rel
    status = dvc(repo_b, env, "status")
    assert status.strip() == "Data and pipelines are up to date."
    params = git(repo_b, "diff", "HEAD", "--", "params.yaml")
    assert "+    epochs: 3" in params
