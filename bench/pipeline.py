"""Benchmark the whole pipeline from scratch on the real data.

Clones the committed repo into a temporary directory, points ``NLP_DATA_MIRROR`` at the offline
mirror, runs one full ``dvc repro`` (what a user runs; with ``--stages``, ``dvc repro -s -f`` of
each named stage instead), then a no-op ``dvc repro``, and prints a markdown table: per-stage
wall time (from one "Running stage" line of DVC's output to the next) and peak RSS, plus what each
stage wrote (test accuracy from ``metrics/``; median epoch and training time from
``models/<family>/run.json``), next to its anchor (the ``REFERENCE`` of its module in
``stages/families/``), and for each sentiment family the accuracy it gains over ``tfidf_logreg``
per minute of its stage's wall time.
Then ``python -m bench.bare_keras`` in the clone compares the training stage's input pipeline
with a bare ``model.fit(x, y)``. ``--isa AVX2`` caps oneDNN at that instruction set
(``ONEDNN_MAX_CPU_ISA``) to emulate a slower CPU of this kind.

``--base REV`` compares two committed revisions instead (``--head``, default ``HEAD``; uncommitted
changes are not in a clone): ``--runs`` runs of each, alternating base, head, base, head, ...,
each in a fresh clone checked out at its revision with ``dvc repro -f`` (every stage reruns, even
one whose outputs are committed to git; a run that misses a stage of ``dvc stage list`` fails).
Both revisions run with this interpreter's venv. It prints the CPU model and its avx2/avx512f/fma
flags, per revision each stage's median and per-run wall seconds, then per stage the ratio of the
medians head/base (a stage only one revision has gets blanks) and of the whole ``dvc repro``
(TOTAL), and a JSON line with every raw number (``--json-out`` also writes it to a file).
``--keep`` keeps the last head clone (the last run: its ``dvc.lock`` and ``metrics/`` are the
head's pipeline run) and logs its path; the bare-Keras comparison is skipped. Usage::

    .venv/bin/python -m bench.pipeline [--mirror ../shared/datasets] [--keep] [--stages a b ...]
        [--bare-keras transformer_seed lstm] [--bare-rows 4000] [--bare-epochs 8] [--isa AVX2]
    .venv/bin/python -m bench.pipeline --base REV [--head HEAD] [--runs 2] [--keep]
        [--json-out PATH] [--mirror ../shared/datasets] [--stages a b ...] [--isa AVX2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CPU_FLAGS = ("avx2", "avx512f", "fma")
REVISIONS = ("base", "head")
log = logging.getLogger("bench")


@dataclass
class Run:
    """One benchmarked ``dvc repro``: per stage (name, wall seconds, peak RSS MiB), in the order
    the stages ran, and the wall seconds of the whole command (of all ``-s -f`` with ``--stages``).
    """

    stages: list[tuple[str, float, float]]
    total: float

    @property
    def seconds(self) -> dict[str, float]:
        return {name: wall for name, wall, _ in self.stages}

    def to_json(self) -> dict:
        return {"stages": [{"stage": name, "wall_s": wall, "peak_rss_mib": rss}
                           for name, wall, rss in self.stages], "total_s": self.total}


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


def run_pipeline(cwd: Path, env: dict[str, str], *, force: bool = False) -> Run:
    """One full ``dvc repro`` (``dvc repro -f`` with ``force``).

    A stage's time runs from DVC's "Running stage" line to the next one (the last to the
    exit), so DVC's own per-stage work (hashing, caching, writing dvc.lock) counts in it.
    """
    cmd = ["dvc", "repro", *(["-f"] if force else [])]
    begin = time.perf_counter()
    proc = psutil.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
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
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    ends = [mark[1] for mark in marks[1:]] + [end] * bool(marks)  # no stage ran: no ends
    stages = [(name, stop - start, peak / 2**20)
              for (name, start, peak), stop in zip(marks, ends, strict=True)]
    return Run(stages, end - begin)


def run_once(clone: Path, env: dict[str, str], stages: list[str] | None, *,
             force: bool = False) -> Run:
    """The benchmarked run of either mode: ``dvc repro -s -f`` of each of ``stages`` in turn,
    or one full ``dvc repro`` (``-f`` with ``force``)."""
    if not stages:
        return run_pipeline(clone, env, force=force)
    timed = []
    for stage in stages:
        log.info("running %s", stage)
        timed.append((stage, *run_measured(["dvc", "repro", "-s", "-f", stage], clone, env)))
    return Run(timed, sum(wall for _, wall, _ in timed))


def resolve(rev: str) -> str:
    """The commit ``rev`` names in the repo (a clone has only committed revisions)."""
    out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                         cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{rev!r} is no commit of {REPO}")
    return out.stdout.strip()


def clone_repo(dest: Path, commit: str | None = None) -> Path:
    """Clone the repo into ``dest`` (at ``commit``, else at its checked-out branch)."""
    cmd = ["git", "clone", "-q", *(["--no-checkout"] if commit else []), str(REPO), str(dest)]
    subprocess.run(cmd, check=True)
    if commit:
        subprocess.run(["git", "checkout", "-q", commit], cwd=dest, check=True)
    return dest


def bench_env(clone: Path, mirror: Path, isa: str | None) -> dict[str, str]:
    """The environment of the runs in ``clone``: the offline mirror, this interpreter's venv
    first on PATH (its ``dvc`` and ``python``), an MLflow store in the clone, the ISA cap."""
    env = dict(os.environ, NLP_DATA_MIRROR=str(mirror.resolve()))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{clone}/mlflow.db"
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    return env


def pipeline_stages(clone: Path, env: dict[str, str]) -> list[str]:
    """The stages of the clone's ``dvc.yaml`` (what a full ``dvc repro`` runs)."""
    out = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=clone, env=env,
                         check=True, capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def missing_stages(ran: list[str], expected: list[str]) -> list[str]:
    """The stages of ``expected`` that did not run, in its order."""
    done = set(ran)
    return [stage for stage in expected if stage not in done]


def warn_uncommitted() -> None:
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    if status.strip():
        log.warning("uncommitted changes in %s are not benchmarked (a clone has commits only)",
                    REPO)


def cpu_info(cpuinfo: str) -> dict:
    """CPU model and whether it has each of ``CPU_FLAGS``, from the text of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", "unknown"),
            "flags": {flag: flag in flags for flag in CPU_FLAGS}}


def run_order(runs: int) -> list[str]:
    """Which revision each run benchmarks: base, head, base, head, ... (``runs`` each), so that a
    drift of the machine's speed over time hits both alike."""
    return [label for _ in range(runs) for label in REVISIONS]


def stage_union(orders: list[list[str]]) -> list[str]:
    """Every stage of ``orders`` once: in the first order's sequence, a stage the others add
    right after the stage it follows there."""
    union: list[str] = []
    for order in orders:
        for i, stage in enumerate(order):
            if stage in union:
                continue
            before = [s for s in order[:i] if s in union]
            union.insert(union.index(before[-1]) + 1 if before else 0, stage)
    return union


def cell(values: list[float]) -> str:
    """Median of ``values`` with each run's value in brackets ("" without values)."""
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({', '.join(f'{v:.1f}' for v in values)})"


def ratio(head: list[float], base: list[float]) -> str:
    """Median of ``head`` over median of ``base`` ("" if either is missing)."""
    if not head or not base or statistics.median(base) == 0:
        return ""
    return f"{statistics.median(head) / statistics.median(base):.3f}"


def stage_values(runs: list[Run], stage: str) -> list[float]:
    return [run.seconds[stage] for run in runs if stage in run.seconds]


def revision_rows(runs: list[Run]) -> list[list[str]]:
    """Per stage of one revision's runs and the TOTAL: stage, median s, each run's s."""
    stages = stage_union([[name for name, _, _ in run.stages] for run in runs])
    rows = []
    for stage in stages:
        values = [f"{run.seconds[stage]:.1f}" if stage in run.seconds else "" for run in runs]
        median = statistics.median(stage_values(runs, stage))
        rows.append([stage, f"{median:.1f}", *values])
    totals = [run.total for run in runs]
    return rows + [["TOTAL", f"{statistics.median(totals):.1f}", *(f"{t:.1f}" for t in totals)]]


def compare_rows(base: list[Run], head: list[Run]) -> list[list[str]]:
    """Per stage of either revision and the TOTAL: stage, base and head median s (each run's),
    the ratio head/base of the medians; blanks where a revision lacks the stage."""
    stages = stage_union([[name for name, _, _ in run.stages] for run in [*head, *base]])
    rows = []
    for stage in stages:
        b, h = stage_values(base, stage), stage_values(head, stage)
        rows.append([stage, cell(b), cell(h), ratio(h, b)])
    b, h = [run.total for run in base], [run.total for run in head]
    return rows + [["TOTAL", cell(b), cell(h), ratio(h, b)]]


def markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


ANCHORS = ("import json; from stages.families import registry as r; "
           "print(json.dumps({f: r.spec(f).reference.anchor for f in r.names()}))")


def anchors(repo: Path, env: dict[str, str]) -> dict[str, str]:
    """Family -> the reference it is compared against, as the registry of ``repo`` says."""
    out = subprocess.run([sys.executable, "-c", ANCHORS], cwd=repo, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


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
    """The table lines ``bench.bare_keras`` logs for ``family`` in the clone."""
    cmd = [sys.executable, "-m", "bench.bare_keras", "--family", family, "--rows", str(rows)]
    cmd += ["--epochs", str(epochs)]
    out = subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True)
    return [line for line in out.stderr.splitlines() if line.startswith(("|", family, "stage"))]


def bench_single(args: argparse.Namespace) -> int:
    """One run of the checked-out branch's last commit, with metrics, no-op and bare Keras."""
    tmp = Path(tempfile.mkdtemp(prefix="nlp-bench-"))
    clone = clone_repo(tmp / "repo")
    env = bench_env(clone, args.mirror, args.isa)
    rows, bare = [], []
    try:
        refs = anchors(clone, env)
        expected = None if args.stages else pipeline_stages(clone, env)
        run = run_once(clone, env, args.stages)
        skipped = missing_stages([name for name, _, _ in run.stages], expected or [])
        if skipped:
            log.warning("dvc repro skipped stages (outputs up to date): %s", ", ".join(skipped))
        for stage, wall, rss in run.stages:
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
        if args.keep:
            log.info("kept the clone: %s", clone)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    header = ["stage", "wall s", "peak RSS MiB", "metrics", "epoch s", "training s", "anchor",
              "accuracy over tfidf_logreg per minute"]
    rows.append(["total (dvc repro)", f"{run.total:.1f}", *[""] * 6])
    if noop is not None:
        rows.append(["no-op dvc repro", f"{noop:.2f}", *[""] * 6])
    print("\n".join(markdown(header, rows)))
    print("\n".join(bare))
    return 0


def bench_compare(args: argparse.Namespace) -> int:
    """``--runs`` alternating fresh-clone runs of base and head; per-stage ratios."""
    commits = {"base": resolve(args.base), "head": resolve(args.head)}
    revs = {"base": args.base, "head": args.head}
    warn_uncommitted()
    cpu = cpu_info(Path("/proc/cpuinfo").read_text(encoding="utf-8"))
    order = run_order(args.runs)
    runs: dict[str, list[Run]] = {label: [] for label in REVISIONS}
    kept = None
    for i, label in enumerate(order, 1):
        tmp = Path(tempfile.mkdtemp(prefix=f"nlp-bench-{label}-"))
        keep = args.keep and label == "head" and len(runs["head"]) == args.runs - 1
        try:
            clone = clone_repo(tmp / "repo", commits[label])
            env = bench_env(clone, args.mirror, args.isa)
            log.info("run %d/%d: %s %s (%s) in %s", i, len(order), label, revs[label],
                     commits[label][:7], clone)
            expected = args.stages or pipeline_stages(clone, env)
            run = run_once(clone, env, args.stages, force=True)
            skipped = missing_stages([name for name, _, _ in run.stages], expected)
            if skipped:
                raise SystemExit(f"{label} run {len(runs[label]) + 1} did not run "
                                 f"{', '.join(skipped)}: not a from-scratch run")
            log.info("%s run %d: %.1f s", label, len(runs[label]) + 1, run.total)
            runs[label].append(run)
            kept = clone if keep else kept
        finally:
            if not keep:
                shutil.rmtree(tmp, ignore_errors=True)
            elif kept is None:
                log.warning("kept the failed last head run's clone: %s", tmp / "repo")
    flags = ", ".join(f"{flag} {'yes' if has else 'no'}" for flag, has in cpu["flags"].items())
    lines = [f"CPU: {cpu['model']} ({os.cpu_count()} cores; {flags})"
             + (f", ONEDNN_MAX_CPU_ISA={args.isa}" if args.isa else ""),
             f"base: {revs['base']} ({commits['base'][:7]}), head: {revs['head']} "
             f"({commits['head'][:7]}), {args.runs} runs each, alternating "
             + ", ".join(order) + ("" if args.stages else "; dvc repro -f in a fresh clone")]
    for label in REVISIONS:
        runs_header = [f"run {n} s" for n in range(1, args.runs + 1)]
        lines += ["", f"{label} ({commits[label][:7]})", "",
                  *markdown(["stage", "median s", *runs_header], revision_rows(runs[label]))]
    header = ["stage", "base s (runs)", "head s (runs)", "ratio head/base"]
    lines += ["", *markdown(header, compare_rows(runs["base"], runs["head"]))]
    print("\n".join(lines))
    raw = {"cpu": {**cpu, "cores": os.cpu_count()}, "isa": args.isa, "stages": args.stages,
           "order": order, "kept_head_clone": str(kept) if kept else None,
           **{label: {"rev": revs[label], "commit": commits[label],
                      "runs": [run.to_json() for run in runs[label]]} for label in REVISIONS}}
    sys.stdout.write(json.dumps(raw) + "\n")
    if args.json_out:
        args.json_out.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
        log.info("raw numbers written to %s", args.json_out)
    if kept:
        log.info("kept the last head clone (copy its dvc.lock and metrics/ back): %s", kept)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary clone (with --base: the last head clone)")
    parser.add_argument("--stages", nargs="*", help="only these stages (default: all)")
    parser.add_argument(
        "--bare-keras",
        nargs="*",
        default=["transformer_seed", "lstm"],
        help="families for the bare-Keras throughput comparison (none: skip it; "
        "not with --base)",
    )
    parser.add_argument("--bare-rows", type=int, default=4000, help="train rows it uses")
    parser.add_argument("--bare-epochs", type=int, default=8, help="epochs per feed")
    parser.add_argument("--isa", help="ONEDNN_MAX_CPU_ISA for every stage, e.g. AVX2")
    parser.add_argument("--base", help="compare mode: the base revision (a commit)")
    parser.add_argument("--head", help="compare mode: the head revision (default: HEAD)")
    parser.add_argument("--runs", type=int, help="compare mode: runs of each (default: 2)")
    parser.add_argument("--json-out", type=Path, help="compare mode: also write the raw numbers")
    args = parser.parse_args(argv)
    if args.base is None and (args.head, args.runs, args.json_out) != (None, None, None):
        parser.error("--head, --runs and --json-out need --base")
    args.head = args.head or "HEAD"
    args.runs = 2 if args.runs is None else args.runs
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    return bench_compare(args) if args.base else bench_single(args)


if __name__ == "__main__":
    raise SystemExit(main())
