"""An experiment travels between two clones through a bare git remote and an S3 DVC remote.

The S3 remote is ``s3://<bucket>/imdb-dvc`` on moto's S3 API server on 127.0.0.1 (as DVC's own
S3 tests run it), configured as a team would: ``dvc remote add -d`` + ``endpointurl``, the
credentials in the environment. Clone A (a committed copy of the repo with the translate
fixture) runs ``dvc exp run -n NAME`` of the tiny ``seq2seq`` translator and ``dvc exp push
origin NAME`` (its git ref to origin, its outputs to S3); clone B, a fresh ``git clone`` of the
bare remote, runs ``dvc exp pull origin NAME``, sees NAME with A's metrics in ``dvc exp show``,
and ``dvc exp apply NAME`` + ``dvc pull`` restore A's outputs from S3 byte for byte.
The copy's pipeline is cut down to the translate stages and starts without the repo's dvc.lock
(outputs of the real data, in no cache here), so plain ``dvc pull`` and ``dvc status`` apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.e2e.test_exp_tracking import EPOCHS_KEY, FAMILY, STAGE, committed_copy, exp_metrics
from tests.repo_fixtures import dvc, git

pytestmark = pytest.mark.e2e

NAME = "exp-share"
BUCKET = "team-bucket"
PREFIX = "imdb-dvc"
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


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``(endpoint URL, credentials environment)`` of an S3 API server holding ``BUCKET``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Any key works with moto; the config files point nowhere so no real AWS profile is read.
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
             "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")}
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


def test_experiment_travels_to_another_clone_through_s3(
    tmp_path: Path, s3: tuple[str, dict[str, str]]
) -> None:
    endpoint, creds = s3
    repo_a, env = committed_copy(tmp_path)
    env.update(creds)
    translate_only(repo_a)
    origin = with_remotes(repo_a, env, tmp_path, endpoint)
    dvc(repo_a, env, "exp", "run", "-n", NAME, STAGE, "-S", f"{EPOCHS_KEY}=3")
    metrics = json.loads((repo_a / OUTPUTS[0]).read_text(encoding="utf-8"))
    dvc(repo_a, env, "exp", "push", "origin", NAME)
    listed = bucket_client(endpoint, creds).list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
    keys = {obj["Key"] for obj in listed.get("Contents", [])}

    git(tmp_path, "clone", "-q", "-b", "main", str(origin), str(tmp_path / "b"))
    repo_b = tmp_path / "b"
    assert not (repo_b / "models").exists()
    dvc(repo_b, env, "exp", "pull", "origin", NAME)
    assert exp_metrics(repo_b, env, NAME) == metrics
    dvc(repo_b, env, "exp", "apply", NAME)
    # Every cached output of the experiment is an object in the bucket, where DVC 3 puts it.
    lock = yaml.safe_load((repo_b / "dvc.lock").read_text(encoding="utf-8"))
    cached = [out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])
              if out["path"] == f"models/{FAMILY}"]
    assert [f"{PREFIX}/files/md5/{md5[:2]}/{md5[2:]}" in keys for md5 in cached] == [True]
    dvc(repo_b, env, "pull")
    for rel in OUTPUTS:
        assert (repo_b / rel).read_bytes() == (repo_a / rel).read_bytes(), rel
    status = dvc(repo_b, env, "status")
    assert status.strip() == "Data and pipelines are up to date."
    params = git(repo_b, "diff", "HEAD", "--", "params.yaml")
    assert "+    epochs: 3" in params
