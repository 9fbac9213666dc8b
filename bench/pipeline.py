"""Benchmark the whole pipeline from scratch on the real data.

Clones the committed repo into a temporary directory, points ``NLP_DATA_MIRROR`` at the offline
mirror, runs one full ``dvc repro`` (what a user runs; with ``--stages``, ``dvc repro -s -f`` of
each named stage instead), then a no-op ``dvc repro``, and prints a markdown table: per-stage
wall time (from one "Running stage" line of DVC's output to the next) and peak RSS, plus what each
stage wrote (test accuracy from ``metrics/``; median epoch and training time from
``models/<family>/run.json``), next to its anchor from ``stages/references.yaml``, and for each
sentiment family the accuracy it gains over ``tfidf_logreg`` per minute of its stage's wall time.
Then ``bench/bare_keras.py`` in the clone compares the training stage's input pipeline with a
bare ``model.fit(x, y)``. ``--isa AVX2`` caps oneDNN at that instruction set
(``ONEDNN_MAX_CPU_ISA``) to emulate a slower CPU of this kind. Usage::

    .venv/bin/python bench/pipeline.py [--mirror ../shared/datasets] [--keep] [--stages a b ...]
        [--bare-keras transformer_seed lstm] [--bare-rows 4000] [--bare-epochs 8] [--isa AVX2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

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


def run_pipeline(cwd: Path, env: dict[str, str]) -> tuple[list[tuple[str, float, float]], float]:
    """One full ``dvc repro``: per stage (name, wall seconds, peak RSS MiB of the process tree),
    and the wall seconds of the whole command.

    A stage's time runs from DVC's "Running stage" line to the next one (the last to the
    exit), so DVC's own per-stage work (hashing, caching, writing dvc.lock) counts in it.
    """
    begin = time.perf_counter()
    proc = psutil.Popen(["dvc", "repro"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, bufsize=1)
    marks: list[list] = []  # [stage, start, peak bytes]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            try:
                rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
            except psutil.Error:
                continue
            if marks:
                marks[-1][2] = max(marks[-1][2], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in proc.stdout:
        match = re.match(r"Running stage '([^']+)'", line)
        if match:
            log.info("running %s", match.group(1))
            marks.append([match.group(1), time.perf_counter(), 0])
    proc.wait()
    end = time.perf_counter()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"dvc repro failed with exit code {proc.returncode}")
    ends = [mark[1] for mark in marks[1:]] + [end]
    stages = [(name, stop - start, peak / 2**20)
              for (name, start, peak), stop in zip(marks, ends, strict=True)]
    return stages, end - begin


def anchors(repo: Path) -> dict[str, str]:
    """Family -> the reference it is compared against (``stages/references.yaml``)."""
    refs = yaml.safe_load((repo / "stages" / "references.yaml").read_text(encoding="utf-8"))
    return {family: ref["anchor"] for group in refs.values() for family, ref in group.items()}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def metrics_summary(repo: Path, name: str) -> list[str]:
    """Headline metrics of ``metrics/<name>.json``, median epoch and training seconds of
    ``models/<name>/run.json``."""
    data = read_json(repo / "metrics" / f"{name}.json")
    facts = read_json(repo / "models" / name / "run.json")
    keys = ["accuracy", "exact_match", "char_accuracy", "vocab_coverage", "token_coverage"]
    timing = ("epoch_seconds", "training_seconds")
    seconds = [f"{facts[k]:.1f}" if k in facts else "" for k in timing]
    return [" ".join(f"{k}={data[k]:.4f}" for k in keys if k in data), *seconds]


def gain_per_minute(repo: Path, name: str, wall: float) -> str:
    """Test accuracy over ``tfidf_logreg``'s per minute of the stage's wall time."""
    accuracy = read_json(repo / "metrics" / f"{name}.json").get("accuracy")
    baseline = read_json(repo / "metrics" / "tfidf_logreg.json").get("accuracy")
    if accuracy is None or baseline is None or name == "tfidf_logreg":
        return ""
    return f"{(accuracy - baseline) / (wall / 60):+.4f}"


def bare_keras(repo: Path, env: dict[str, str], family: str, rows: int, epochs: int) -> list[str]:
    """The table lines ``bench/bare_keras.py`` logs for ``family`` in the clone."""
    cmd = [sys.executable, "bench/bare_keras.py", "--family", family, "--rows", str(rows)]
    cmd += ["--epochs", str(epochs)]
    out = subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True)
    return [line for line in out.stderr.splitlines() if line.startswith(("|", family, "stage"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    parser.add_argument("--stages", nargs="*", help="only these stages (default: all)")
    parser.add_argument(
        "--bare-keras",
        nargs="*",
        default=["transformer_seed", "lstm"],
        help="families for the bare-Keras throughput comparison (none: skip it)",
    )
    parser.add_argument("--bare-rows", type=int, default=4000, help="train rows it uses")
    parser.add_argument("--bare-epochs", type=int, default=8, help="epochs per feed")
    parser.add_argument("--isa", help="ONEDNN_MAX_CPU_ISA for every stage, e.g. AVX2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")

    tmp = Path(tempfile.mkdtemp(prefix="nlp-bench-"))
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = dict(os.environ, NLP_DATA_MIRROR=str(args.mirror.resolve()))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{clone}/mlflow.db"
    if args.isa:
        env["ONEDNN_MAX_CPU_ISA"] = args.isa
    rows, bare = [], []
    try:
        refs = anchors(clone)
        if args.stages:
            timed = []
            for stage in args.stages:
                log.info("running %s", stage)
                cmd = ["dvc", "repro", "-s", "-f", stage]
                timed.append((stage, *run_measured(cmd, clone, env)))
            total = sum(wall for _, wall, _ in timed)
        else:
            timed, total = run_pipeline(clone, env)
        for stage, wall, rss in timed:
            name = stage.split("@")[-1]  # a family's metrics file and reference are named so
            summary = metrics_summary(clone, name)
            rows.append([stage, f"{wall:.1f}", f"{rss:.0f}", *summary, refs.get(name, "")])
        rows = [[*row, gain_per_minute(clone, row[0].split("@")[-1], float(row[1]))]
                for row in rows]  # after every stage ran: tfidf_logreg's accuracy is known
        # After a subset of stages a plain ``dvc repro`` would run the rest: not a no-op.
        noop = None if args.stages else run_measured(["dvc", "repro"], clone, env)[0]
        for family in args.bare_keras:
            log.info("bare-Keras comparison: %s", family)
            bare += bare_keras(clone, env, family, args.bare_rows, args.bare_epochs)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    header = ["stage", "wall s", "peak RSS MiB", "metrics", "epoch s", "training s", "anchor",
              "accuracy over tfidf_logreg per minute"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"| total (dvc repro) | {total:.1f} | | | | | | |")
    if noop is not None:
        print(f"| no-op dvc repro | {noop:.2f} | | | | | | |")
    print("\n".join(bare))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
