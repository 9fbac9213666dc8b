"""One DVC experiment of the tiny ``seq2seq`` translator: linked to its MLflow run, and shared with
another clone through a bare git remote and an S3 DVC remote.

Clone A is a committed copy of the repo with the translate fixture, its pipeline cut down to the
translate stages, their entries of the repo's dvc.lock kept (they record the real data), a
temporary MLflow store, and the remotes a team would configure: ``s3://<bucket>/imdb-dvc`` on
moto's S3 API server on 127.0.0.1 (as DVC's own S3 tests run it), added by ``dvc remote add -d``
+ ``endpointurl`` with the credentials in the environment, and a bare git ``origin``. A runs
``dvc exp run -n NAME -S`` once for the module.

Linked: the experiment's MLflow run carries ``dvc_stage``, the experiment's name and baseline,
MLflow's own git commit (the baseline), its input logged as a dataset whose digest is the md5
``dvc.lock`` records, and the final metrics ``dvc exp show`` reports for NAME.

Shared: A runs ``dvc exp push origin NAME`` (its git ref to origin, its outputs to S3); clone B,
a fresh ``git clone`` of the bare remote, runs ``dvc exp pull origin NAME``, sees NAME with A's
metrics in ``dvc exp show``, and ``dvc exp apply NAME`` + ``dvc pull`` restore A's outputs from
S3 byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from moto.server import ThreadedMotoServer

from tests.conftest import sqlite_store
from tests.e2e.test_experiments import EPOCHS_KEY, FAMILY, STAGE, committed_copy
from tests.repo_fixtures import dvc, git

pytestmark = pytest.mark.e2e

NAME = "exp-share"
EPOCHS = 3
INPUT = "data/prepared/translate"
BUCKET = "team-bucket"
PREFIX = "imdb-dvc"
TRANSLATE_STAGES = ("download_translate", "tokenize_translate", STAGE)
OUTPUTS = (f"metrics/{FAMILY}.json", f"models/{FAMILY}/model.keras", f"models/{FAMILY}/vocab.json")


def read_lock(repo: Path) -> dict:
    with open(repo / "dvc.lock", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def locked_dep_md5(lock: dict, path: str) -> str:
    """The md5 ``dvc.lock`` records for ``STAGE``'s dep ``path``."""
    (md5,) = [d["md5"] for d in lock["stages"][STAGE]["deps"] if d["path"] == path]
    return md5


def translate_only(repo: Path) -> None:
    """Keep only the translate stages in the copy's dvc.yaml and dvc.lock."""
    path = repo / "dvc.yaml"
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    stages = {k: v for k, v in pipeline["stages"].items() if k in TRANSLATE_STAGES[:2]}
    stages["train_translator"] = pipeline["stages"]["train_translator"]  # foreach: seq2seq only
    path.write_text(yaml.safe_dump({"stages": stages}, sort_keys=False), encoding="utf-8")
    lock = read_lock(repo)
    lock["stages"] = {k: v for k, v in lock["stages"].items() if k in TRANSLATE_STAGES}
    assert set(lock["stages"]) == set(TRANSLATE_STAGES)
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """``(endpoint URL, credentials environment)`` of an S3 API server holding ``BUCKET``."""
    aws = tmp_path_factory.mktemp("aws")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Any key works with moto; the config files point nowhere so no real AWS profile is read.
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(aws / "aws-config"),
             "AWS_SHARED_CREDENTIALS_FILE": str(aws / "aws-credentials")}
    endpoint = f"http://{host}:{port}"
    try:
        bucket_client(endpoint, creds).create_bucket(Bucket=BUCKET)
        yield endpoint, creds
    finally:
        server.stop()


def bucket_client(endpoint: str, creds: dict[str, str]) -> object:
    return boto3.client("s3", endpoint_url=endpoint, region_name=creds["AWS_DEFAULT_REGION"],
                        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"])


def with_remotes(repo: Path, env: dict[str, str], tmp_path: Path, endpoint: str) -> Path:
    """Give ``repo`` a default S3 DVC remote (committed) and push it to a bare ``origin``."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    dvc(repo, env, "remote", "add", "-d", "shared", f"s3://{BUCKET}/{PREFIX}")
    dvc(repo, env, "remote", "modify", "shared", "endpointurl", endpoint)
    git(repo, "commit", "-qam", "shared DVC remote")
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:main")
    return origin


@dataclass
class Experiment:
    """Clone A after ``dvc exp run -n NAME``: its stage environment, the bare remote, the
    baseline commit, and the real data's md5 of ``INPUT`` its dvc.lock held before."""

    repo: Path
    env: dict[str, str]
    origin: Path
    head: str
    stale: str


@pytest.fixture(scope="module")
def experiment(s3: tuple[str, dict[str, str]],
               tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    endpoint, creds = s3
    root = tmp_path_factory.mktemp("exp")
    (root / "store").mkdir()
    store = sqlite_store(root / "store" / "mlflow.db")
    repo, env = committed_copy(root, MLFLOW_TRACKING_URI=store)
    env.update(creds)
    translate_only(repo)
    origin = with_remotes(repo, env, root, endpoint)
    head = git(repo, "rev-parse", "HEAD").strip()
    # The copied dvc.lock records the real data. The experiment reruns tokenize_translate on the
    # fixture first: while the training runs, its own deps entry still holds the real data's md5
    # and only tokenize_translate's fresh outs entry the fixture's.
    stale = locked_dep_md5(read_lock(repo), INPUT)
    dvc(repo, env, "exp", "run", "-n", NAME, STAGE, "-S", f"{EPOCHS_KEY}={EPOCHS}")
    return Experiment(repo, env, origin, head, stale)


def runs_by(store: str, tag: str, value: str) -> list[Run]:
    """The "translation" runs whose ``tag`` is ``value``."""
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("translation")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.{tag} = '{value}'")


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


def test_exp_run_is_linked_to_its_mlflow_run(experiment: Experiment) -> None:
    repo, env = experiment.repo, experiment.env
    digest = locked_dep_md5(read_lock(repo), INPUT)
    assert digest.endswith(".dir")
    assert digest != experiment.stale
    (run,) = runs_by(env["MLFLOW_TRACKING_URI"], "dvc_stage", STAGE)
    assert_linked(run, name=NAME, head=experiment.head, digest=digest)
    assert run.data.params["epochs"] == str(EPOCHS)
    shown = exp_metrics(repo, env, NAME)
    assert set(shown) == {"char_accuracy", "exact_match", "loss"}
    assert {k: run.data.metrics[k] for k in shown} == shown


def test_experiment_travels_to_another_clone_through_s3(
    experiment: Experiment, s3: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    endpoint, creds = s3
    repo_a, env = experiment.repo, experiment.env
    metrics = json.loads((repo_a / OUTPUTS[0]).read_text(encoding="utf-8"))
    dvc(repo_a, env, "exp", "push", "origin", NAME)
    listed = bucket_client(endpoint, creds).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    keys = {obj["Key"] for obj in listed.get("Contents", [])}

    git(tmp_path, "clone", "-q", "-b", "main", str(experiment.origin), str(tmp_path / "b"))
    repo_b = tmp_path / "b"
    assert not (repo_b / "models").exists()
    dvc(repo_b, env, "exp", "pull", "origin", NAME)
    assert exp_metrics(repo_b, env, NAME) == metrics
    dvc(repo_b, env, "exp", "apply", NAME)
    # Every cached output of the experiment is an object in the bucket, where DVC 3 puts it.
    lock = read_lock(repo_b)
    cached = [out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])
              if out["path"] == f"models/{FAMILY}"]
    assert [f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}" in keys for md5 in cached] == [True]
    dvc(repo_b, env, "pull")
    for rel in OUTPUTS:
        assert (repo_b / rel).read_bytes() == (repo_a / rel).read_bytes(), rel
    status = dvc(repo_b, env, "status")
    assert status.strip() == "Data and pipelines are up to date."
    params = git(repo_b, "diff", "HEAD", "--", "params.yaml")
    assert f"+    epochs: {EPOCHS}" in params
