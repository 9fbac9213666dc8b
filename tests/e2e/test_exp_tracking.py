"""An MLflow run linked to its DVC experiment, in a temporary copy of the repo.

``dvc exp run -n NAME -S`` of the tiny ``seq2seq`` translator: its MLflow run carries
``dvc_stage``, the experiment's name and baseline, MLflow's own git commit (the baseline), its
input logged as a dataset whose digest is the md5 ``dvc.lock`` records, and the final metrics
``dvc exp show`` reports for NAME.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from tests.e2e.test_experiments import EPOCHS_KEY, FAMILY, STAGE
from tests.e2e.test_experiments import committed_copy as translator_copy
from tests.repo_fixtures import (
    dvc,
    git,
)

pytestmark = pytest.mark.e2e

INPUT = "data/prepared/translate"


def committed_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A committed copy with the translate fixture, only a tiny ``seq2seq``, and a temp store."""
    (tmp_path / "store").mkdir()
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    return translator_copy(tmp_path, MLFLOW_TRACKING_URI=store)


def runs_by(store: str, tag: str, value: str) -> list[Run]:
    """The "translation" runs whose ``tag`` is ``value``."""
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("translation")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.{tag} = '{value}'")


def read_lock(repo: Path) -> dict:
    with open(repo / "dvc.lock", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def locked_dep_md5(lock: dict, path: str) -> str:
    """The md5 ``dvc.lock`` records for ``STAGE``'s dep ``path``."""
    (md5,) = [d["md5"] for d in lock["stages"][STAGE]["deps"] if d["path"] == path]
    return md5


def exp_metrics(repo: Path, env: dict[str, str], name: str) -> dict[str, float]:
    """``metrics/seq2seq.json`` as ``dvc exp show --json`` reports it for experiment ``name``."""
    for baseline in json.loads(dvc(repo, env, "exp", "show", "--json")):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                if rev["name"] == name:
                    return rev["data"]["metrics"][f"metrics/{FAMILY}.json"]["data"]
    raise AssertionError(f"experiment {name} not in dvc exp show")


def assert_linked(run: Run, *, name: str, head: str, digest: str) -> None:
    """Tags, git commit and dataset input of a ``STAGE`` run of experiment ``name``."""
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert tags["dvc_stage"] == STAGE
    assert tags["dvc_exp_name"] == name
    assert tags["dvc_exp_baseline_rev"] == head
    assert tags["mlflow.source.git.commit"] == head
    inputs = [
        (d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source)
        for d in run.inputs.dataset_inputs
    ]
    assert inputs == [(INPUT, digest, "local", json.dumps({"uri": INPUT}))]
    contexts = [{t.key: t.value for t in d.tags} for d in run.inputs.dataset_inputs]
    assert contexts == [{"mlflow.data.context": "training"}]


def test_exp_run_is_linked_to_its_mlflow_run(tmp_path: Path) -> None:
    repo, env = committed_copy(tmp_path)
    store = env["MLFLOW_TRACKING_URI"]
    head = git(repo, "rev-parse", "HEAD").strip()
    # The copied dvc.lock records the real data. The experiment reruns tokenize_translate on the
    # fixture first: while the training runs, its own deps entry still holds the real data's md5
    # and only tokenize_translate's fresh outs entry the fixture's.
    stale = locked_dep_md5(read_lock(repo), INPUT)
    dvc(repo, env, "exp", "run", "-n", "exp-link", STAGE, "-S", f"{EPOCHS_KEY}=3")

    digest = locked_dep_md5(read_lock(repo), INPUT)
    assert digest.endswith(".dir")
    assert digest != stale
    (run,) = runs_by(store, "dvc_stage", STAGE)
    assert_linked(run, name="exp-link", head=head, digest=digest)
    assert run.data.params["epochs"] == "3"
    shown = exp_metrics(repo, env, "exp-link")
    assert set(shown) == {"char_accuracy", "exact_match", "loss"}
    assert {k: run.data.metrics[k] for k in shown} == shown
