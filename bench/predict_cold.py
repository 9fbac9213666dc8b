"""Time a cold ``python -m stages.commands.predict sentiment`` scoring two reviews, per family.

Each run is a new process (imports, model loading and scoring: what a user waits for), in
``--repo`` (a checkout after ``dvc repro``: its ``models/`` and ``mlflow.db``), alternating the
families run by run. Prints a markdown table: min, median and max wall seconds and the median
peak RSS. Usage::

    .venv/bin/python -m bench.predict_cold [--repo .] [--runs 5] [--families tfidf_logreg champion]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
REVIEWS = ("A moving, beautifully shot film.", "Dull and far too long.")
log = logging.getLogger("bench")


def run_once(repo: Path, family: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one cold predict process."""
    cmd = [sys.executable, "-m", "stages.commands.predict", "sentiment", "--family", family,
           *REVIEWS]
    start = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=repo, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-2000:]}")
    if len(out.decode().splitlines()) != len(REVIEWS):
        raise SystemExit(f"{family}: expected {len(REVIEWS)} lines, got:\n{out.decode()}")
    return wall, peak / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--families", nargs="+", default=["tfidf_logreg", "champion"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    walls: dict[str, list[float]] = {f: [] for f in args.families}
    rss: dict[str, list[float]] = {f: [] for f in args.families}
    for i in range(args.runs):
        for family in args.families:
            wall, peak = run_once(args.repo.resolve(), family)
            log.info("run %d %s: %.2f s, %.0f MiB", i + 1, family, wall, peak)
            walls[family].append(wall)
            rss[family].append(peak)
    print("| family | min s | median s | max s | median peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for family in args.families:
        w = walls[family]
        print(f"| {family} | {min(w):.2f} | {statistics.median(w):.2f} | {max(w):.2f} "
              f"| {statistics.median(rss[family]):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
