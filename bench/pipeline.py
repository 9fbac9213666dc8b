"""Benchmark the whole pipeline from scratch on the real data.

Clones the committed repo into a temporary directory, points ``NLP_DATA_MIRROR`` at the offline
mirror, runs every stage once in pipeline order (``dvc repro -s <stage>``), then a no-op
``dvc repro``, and prints a table: per-stage wall time and peak RSS, plus the metrics each stage
wrote (test accuracy of each family). Usage::

    .venv/bin/python bench/pipeline.py [--mirror ../shared/datasets] [--keep] [--stages a b ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench")


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MiB summed over its process tree)."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, env=env)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return time.perf_counter() - start, peak / 2**20


def stage_names(repo: Path, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        ["dvc", "stage", "list", "--name-only"], cwd=repo, env=env, check=True,
        capture_output=True, text=True,
    )
    return out.stdout.split()


def metrics_summary(repo: Path, stage: str) -> str:
    """The headline metric a stage wrote, if any (``metrics/<name>.json``)."""
    name = stage.split("@")[-1]
    path = repo / "metrics" / f"{name}.json"
    if not path.is_file():
        return ""
    data = json.loads(path.read_text(encoding="utf-8"))
    keys = ["accuracy", "exact_match", "char_accuracy", "vocab_coverage", "token_coverage"]
    return " ".join(f"{k}={data[k]:.4f}" for k in keys if k in data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    parser.add_argument("--stages", nargs="*", help="only these stages (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")

    tmp = Path(tempfile.mkdtemp(prefix="nlp-bench-"))
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = dict(os.environ, NLP_DATA_MIRROR=str(args.mirror.resolve()))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{clone}/mlflow.db"
    rows = []
    try:
        for stage in args.stages or stage_names(clone, env):
            log.info("running %s", stage)
            wall, rss = run_measured(["dvc", "repro", "-s", "-f", stage], clone, env)
            rows.append((stage, wall, rss, metrics_summary(clone, stage)))
        noop, _ = run_measured(["dvc", "repro"], clone, env)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    total = sum(r[1] for r in rows)
    print(f"{'stage':32} {'wall s':>8} {'peak RSS MiB':>13}  metrics")
    for stage, wall, rss, summary in rows:
        print(f"{stage:32} {wall:8.1f} {rss:13.0f}  {summary}")
    print(f"{'total':32} {total:8.1f}")
    print(f"{'no-op dvc repro':32} {noop:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
