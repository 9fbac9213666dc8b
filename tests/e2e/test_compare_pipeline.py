"""``dvc repro compare`` on a fixture mirror with every family at tiny size (the session's
``reproduced``, tests/e2e/conftest.py), then what a user does next: ``dvc plots show``/``diff``,
predictions with the champion, and ``make ui``'s MLflow UI over HTTP and in headless Chromium
(Debian's ``chromium``; where it is missing that check is skipped, and fails with ``CI=true``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from mlflow import MlflowClient
from PIL import Image

from stages.evaluation.metrics import compute_metrics
from stages.evaluation.plots import DPI, figure_size
from stages.families.registry import sentiment_families
from tests.conftest import require
from tests.e2e.conftest import Reproduced
from tests.mlflow_server import free_port, server_env, start, stop
from tests.repo_fixtures import dvc, git

pytestmark = pytest.mark.e2e

SENTIMENT = sentiment_families()
UP_TO_DATE = "Data and pipelines are up to date."
# Root, no GPU, and no connection attempts to Google's hosts on this machine's closed network.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,900")
# Virtual time: Chromium waits for the page's fetches and renders for this long, then dumps.
RENDER_BUDGET_MS = 20_000
def champion_version(repo: Path) -> object:
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    return MlflowClient(uri, uri).get_model_version_by_alias("imdb-sentiment", "champion")


def test_repro_writes_summary_figure_and_registers_champion(
    reproduced: Reproduced,
) -> None:
    repo, env = reproduced.repo, reproduced.env
    summary = (repo / "metrics" / "summary.md").read_text(encoding="utf-8")
    metrics = {f: json.loads((repo / "metrics" / f"{f}.json").read_text()) for f in SENTIMENT}
    champion = max(SENTIMENT, key=lambda family: metrics[family]["best_val_accuracy"])
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in summary.splitlines() if line.startswith("|")]
    board = {row[1]: row[2] for row in rows if row[0].isdigit()}  # family -> accuracy
    assert board == {
        f"{family} (champion)" if family == champion else family:
        f"{metrics[family]['accuracy']:.5f}" for family in SENTIMENT
    }
    assert f"**Champion: `{champion}`**" in summary
    with Image.open(repo / "metrics" / "plots" / "comparison.png") as png:
        assert png.size == tuple(int(inches * DPI) for inches in figure_size(len(SENTIMENT)))

    version = champion_version(repo)
    assert version.tags["family"] == champion
    uri = f"sqlite:///{repo / 'mlflow.db'}"
    run = MlflowClient(uri).get_run(version.run_id)
    assert run.data.tags["dvc_stage"] == f"train@{champion}"
    assert run.data.metrics["test_accuracy"] == metrics[champion]["accuracy"]

    assert UP_TO_DATE in dvc(repo, env, "status", "compare")
    assert "Running stage" not in dvc(repo, env, "repro", "compare")


def test_dvc_plots_show_and_diff(
    reproduced: Reproduced, tmp_path: Path
) -> None:
    repo, env = reproduced.repo, reproduced.env
    shown = json.loads(dvc(repo, env, "plots", "show", "--json"))
    assert "errors" not in shown
    curves = {f"metrics/history/{f}.csv" for f in SENTIMENT}  # one plot per file of the dir
    images = {f"metrics/plots/{f}_confusion.png" for f in SENTIMENT}
    images |= {"metrics/plots/comparison.png", "metrics/plots/seq2seq_attention/attention.png"}
    assert curves | images <= set(shown["data"])
    for plot_id in curves:
        (plot,) = shown["data"][plot_id]
        assert plot["type"] == "vega" and plot["content"]["data"]["values"], plot_id
    for plot_id in images:
        (plot,) = shown["data"][plot_id]
        assert plot["type"] == "image" and Path(plot["url"]).is_file(), plot_id
    lstm = "metrics/history/lstm.csv"
    fields = {v["field"] for v in shown["data"][lstm][0]["content"]["data"]["values"]}
    assert fields == {"accuracy", "val_accuracy", "loss", "val_loss"}

    # Offline: the default page loads vega from a CDN, the images are files beside it.
    out = tmp_path / "plots"
    dvc(repo, env, "plots", "show", "-o", str(out))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "https://cdn.jsdelivr.net/npm/vega" in page
    static = sorted(p.name for p in (out / "static").iterdir())
    assert len([name for name in static if name.endswith(".png")]) == len(images)
    dvc(repo, env, "plots", "show", "-o", str(out), "--html-template", ".dvc/plots/offline.html")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page and page.count("<img") == len(images)
    assert '<script src="vendor/vega-embed@6.18.2.js"></script>' in page
    # DVC's page turns a plot id into an HTML id by replacing punctuation with "_"
    html_ids = {re.sub(r"[^\w-]", "_", plot_id) for plot_id in curves}
    assert all(f"vegaEmbed('#{html_id}'" in page for html_id in html_ids)

    history = repo / "metrics" / "history" / "lstm.csv"
    history.write_text(history.read_text().replace("0.", "0.0"), encoding="utf-8")
    diff = json.loads(dvc(repo, env, "plots", "diff", "--json", "--targets", lstm))
    (plot,) = diff["data"][lstm]
    assert sorted(plot["revisions"]) == ["HEAD", "workspace"]
    assert {value["rev"] for value in plot["content"]["data"]["values"]} == {"HEAD", "workspace"}
    git(repo, "checkout", "--", "metrics/history/lstm.csv")


def test_predict_champion_reproduces_its_test_metrics(
    reproduced: Reproduced, tmp_path: Path
) -> None:
    repo, env = reproduced.repo, reproduced.env
    family = champion_version(repo).tags["family"]
    test = pd.read_parquet(repo / "data" / "prepared" / "imdb" / "test.parquet")
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(test["text"]) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "stages.commands.predict", "sentiment", "--family", "champion",
         "--file", str(reviews), "--format", "json"],
        cwd=repo, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"imdb-sentiment@champion is version 1: {family}" in proc.stderr
    probabilities = [r["probability"] for r in json.loads(proc.stdout)]
    ours = compute_metrics(test["label"].to_numpy(), probabilities)
    stage = json.loads((repo / "metrics" / f"{family}.json").read_text())
    assert {k: ours[k] for k in ("accuracy", "tn", "fp", "fn", "tp")} == {
        k: stage[k] for k in ("accuracy", "tn", "fp", "fn", "tp")
    }


@pytest.fixture(scope="module")
def ui(
    reproduced: Reproduced, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """``make ui``'s command in the reproduced copy: its URI and the runs-table address it logs
    for each experiment (name -> address)."""
    repo = reproduced.repo
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    uri = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "stages.commands.tracking_server", "ui",
           "--port", uri.rsplit(":", 1)[1]]
    proc = start(cmd, uri, cwd=repo, log=log, env=server_env())
    try:
        deadline = time.monotonic() + 30  # it logs them right after its own health check
        while not (found := dict(re.findall(r"(\w+) runs: (\S+)", log.read_text()))):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield uri, found
    finally:
        stop(proc)


def test_mlflow_ui_serves_experiments_runs_and_champion(
    ui: tuple[str, dict[str, str]],
) -> None:
    """``make ui`` on the project store, queried over its REST API."""
    uri, addresses = ui
    api = f"{uri}/api/2.0/mlflow"
    experiments = requests.post(f"{api}/experiments/search", json={"max_results": 100},
                                timeout=30).json()["experiments"]
    ids = {e["name"]: e["experiment_id"] for e in experiments}
    assert {"sentiment", "translation"} <= set(ids)
    kinds = {e["name"]: {t["key"]: t["value"] for t in e["tags"]}["mlflow.experimentKind"]
             for e in experiments if e["name"] != "Default"}
    assert kinds == {"sentiment": "custom_model_development",
                     "translation": "custom_model_development"}
    assert addresses == {
        name: f"{uri}/#/experiments/{ids[name]}/runs?workflowType=machine_learning"
        for name in ("sentiment", "translation")
    }
    runs = requests.post(f"{api}/runs/search", timeout=30, json={
        "experiment_ids": [ids["sentiment"]], "max_results": 100,
    }).json()["runs"]
    alias = requests.get(f"{api}/registered-models/alias", timeout=30, params={
        "name": "imdb-sentiment", "alias": "champion",
    }).json()["model_version"]
    by_id = {run["info"]["run_id"]: run for run in runs}
    champion = by_id[alias["run_id"]]
    artifacts = requests.get(f"{api}/artifacts/list", timeout=30, params={
        "run_id": alias["run_id"], "path": "plots",
    }).json()["files"]
    assert requests.get(uri, timeout=30).status_code == 200  # the UI page itself

    assert sorted(run["info"]["run_name"] for run in runs) == sorted(SENTIMENT)
    assert {run["info"]["status"] for run in runs} == {"FINISHED"}
    contract = {f"test_{key}" for key in ("accuracy", "precision", "recall", "f1", "roc_auc",
                                          "loss", "tn", "fp", "fn", "tp")}
    for run in runs:  # the same metric names in every family: comparable side by side
        assert contract <= {m["key"] for m in run["data"]["metrics"]}
        assert {"seed"} <= {p["key"] for p in run["data"]["params"]}
    family = champion["info"]["run_name"]
    assert {t["key"]: t["value"] for t in alias["tags"]}["family"] == family
    assert [a["path"] for a in artifacts] == [f"plots/{family}_confusion.png"]


def test_the_logged_address_opens_sentiment_on_its_training_runs_table(
    ui: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """What a person sees: headless Chromium renders the address ``make ui`` logs for
    ``sentiment`` (the DOM once rendered, and a screenshot kept beside it)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require("no chromium (Debian: apt-get install chromium; .ci/run installs it)", chromium)
    _, addresses = ui
    shot = tmp_path / "sentiment.png"
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--virtual-time-budget={RENDER_BUDGET_MS}", f"--screenshot={shot}", "--dump-dom",
         addresses["sentiment"]],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    title = re.search(r"<title>([^<]*)</title>", dom).group(1)
    assert title.startswith("Runs - "), title  # not the GenAI "Overview"
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S))
    assert "Run Name" in text  # the runs table's header
    assert set(SENTIMENT) <= set(text.split())  # one row per family
    assert "metrics/summary.md" in text  # the experiment's description above the table
    with Image.open(shot) as png:
        assert png.size == (1400, 900)


def test_changing_one_family_param_reruns_and_diffs_only_that_family(
    reproduced: Reproduced, tmp_path: Path
) -> None:
    """Edit ``train.lstm.seed``: only ``train@lstm`` (and the ``compare`` after it) reruns, and
    ``dvc metrics diff`` shows rows of ``metrics/lstm.json`` only."""
    source, env = reproduced.repo, reproduced.env
    repo = tmp_path / "repo"
    shutil.copytree(source, repo, symlinks=True)  # the session's copy stays as reproduced
    # The copy's own store (repo/mlflow.db, copied): compare needs the champion's run, which
    # need not be the retrained family's.
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["train"]["lstm"]["seed"] += 1
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    out = dvc(repo, env, "repro", "compare")
    ran = sorted(re.findall(r"Running stage '([^']+)'", out))
    assert ran == ["compare", "train@lstm"]
    diff = json.loads(dvc(repo, env, "metrics", "diff", "--json"))
    assert set(diff) == {"metrics/lstm.json"}
    assert diff["metrics/lstm.json"]["loss"]["diff"] != 0
    rows = json.loads(dvc(repo, env, "metrics", "diff", "--all", "--json"))["metrics/lstm.json"]
    contract = {"accuracy", "precision", "recall", "f1", "roc_auc", "loss", "tn", "fp", "fn", "tp"}
    assert contract <= set(rows)
    params_diff = json.loads(dvc(repo, env, "params", "diff", "--json"))
    assert params_diff == {"params.yaml": {"train.lstm.seed": {"old": 7, "new": 8, "diff": 1}}}
