"""The pure parts of bench/pipeline.py's compare mode (run order, stage union, ratio tables,
CPU flags) and its orchestration with the runs faked: no clone is benchmarked here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import pipeline as bench


def _run(total: float, **seconds: float):
    return bench.Run([(name, wall, 100.0) for name, wall in seconds.items()], total)


def test_run_order_alternates_base_first():
    assert bench.run_order(1) == ["base", "head"]
    assert bench.run_order(3) == ["base", "head", "base", "head", "base", "head"]


def test_stage_union_keeps_first_order_and_places_additions_after_their_predecessor():
    assert bench.stage_union([["a", "b", "c"], ["a", "b", "c"]]) == ["a", "b", "c"]
    assert bench.stage_union([["a", "b", "d"], ["a", "c", "d", "e"]]) == ["a", "c", "b", "d", "e"]
    assert bench.stage_union([["b"], ["z", "b"]]) == ["z", "b"]


def test_missing_stages_in_expected_order():
    assert bench.missing_stages(["b", "a"], ["a", "b"]) == []
    assert bench.missing_stages(["a"], ["a", "b", "c"]) == ["b", "c"]


def test_compare_rows_ratio_of_medians_with_blanks_for_one_sided_stages():
    base = [_run(30.0, a=10.0, old=20.0), _run(34.0, a=12.0, old=22.0)]
    head = [_run(12.0, a=5.0, new=7.0), _run(14.0, a=6.0, new=8.0)]
    assert bench.compare_rows(base, head) == [
        ["a", "11.0 (10.0, 12.0)", "5.5 (5.0, 6.0)", "0.500"],
        ["old", "21.0 (20.0, 22.0)", "", ""],
        ["new", "", "7.5 (7.0, 8.0)", ""],
        ["TOTAL", "32.0 (30.0, 34.0)", "13.0 (12.0, 14.0)", "0.406"],
    ]


def test_compare_rows_one_run_each_has_no_brackets():
    rows = bench.compare_rows([_run(4.0, a=4.0)], [_run(2.0, a=2.0)])
    assert rows == [["a", "4.0", "2.0", "0.500"], ["TOTAL", "4.0", "2.0", "0.500"]]


def test_revision_rows_median_and_each_run():
    runs = [_run(10.0, a=1.0, b=9.0), _run(12.0, a=3.0, b=9.0), _run(20.0, a=2.0, b=18.0)]
    assert bench.revision_rows(runs) == [
        ["a", "2.0", "1.0", "3.0", "2.0"],
        ["b", "9.0", "9.0", "9.0", "18.0"],
        ["TOTAL", "12.0", "10.0", "12.0", "20.0"],
    ]


def test_cpu_info_model_and_flags_of_the_first_processor():
    text = (
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: other\nflags\t\t: avx512f\n"
    )
    assert bench.cpu_info(text) == {
        "model": "AMD EPYC",
        "flags": {"avx2": True, "avx512f": False, "fma": True},
    }
    assert bench.cpu_info("")["model"] == "unknown"


@pytest.mark.parametrize("argv", [["--runs", "3"], ["--head", "HEAD~1"], ["--json-out", "x"]])
def test_compare_options_need_base(argv):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2


def test_runs_must_be_positive():
    with pytest.raises(SystemExit) as exc:
        bench.main(["--base", "HEAD", "--runs", "0"])
    assert exc.value.code == 2


@pytest.fixture
def faked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """bench_compare with fake clones (a directory naming its commit) and fake runs (head's
    ``b`` stage half as long as base's); ``calls`` records (commit, force) of each run."""
    monkeypatch.setattr(bench, "resolve", lambda rev: {"B": "b" * 40, "HEAD": "h" * 40}[rev])
    monkeypatch.setattr(bench, "warn_uncommitted", lambda: None)
    monkeypatch.setattr(bench.tempfile, "tempdir", str(tmp_path))

    def clone_repo(dest: Path, commit: str | None = None) -> Path:
        dest.mkdir(parents=True)
        (dest / "commit").write_text(commit)
        return dest

    calls: list[tuple[str, bool]] = []

    def run_once(clone: Path, env: dict, stages, *, force: bool = False):
        commit = (clone / "commit").read_text()
        calls.append((commit[0], force))
        n = len(calls)
        return _run(10.0 + n, a=1.0, b=8.0 if commit[0] == "b" else 4.0)

    monkeypatch.setattr(bench, "clone_repo", clone_repo)
    monkeypatch.setattr(bench, "run_once", run_once)
    monkeypatch.setattr(bench, "pipeline_stages", lambda clone, env: ["a", "b"])
    return calls


def test_compare_alternates_keeps_the_last_head_clone_and_reports(faked, tmp_path, capsys):
    out = tmp_path / "raw.json"
    assert bench.main(["--base", "B", "--runs", "2", "--keep", "--json-out", str(out)]) == 0
    assert faked == [("b", True), ("h", True), ("b", True), ("h", True)]
    stdout = capsys.readouterr().out
    raw = json.loads(stdout.splitlines()[-1])
    assert raw == json.loads(out.read_text())
    assert raw["order"] == ["base", "head", "base", "head"]
    assert raw["base"]["commit"] == "b" * 40 and raw["head"]["rev"] == "HEAD"
    assert [run["total_s"] for run in raw["head"]["runs"]] == [12.0, 14.0]
    kept = Path(raw["kept_head_clone"])
    assert (kept / "commit").read_text() == "h" * 40
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [kept.parent]  # the rest removed
    assert "| b | 8.0 (8.0, 8.0) | 4.0 (4.0, 4.0) | 0.500 |" in stdout
    assert "| TOTAL | 12.0 (11.0, 13.0) | 13.0 (12.0, 14.0) | 1.083 |" in stdout
    assert stdout.startswith("CPU: ")


def test_compare_fails_when_a_run_skipped_a_stage(faked, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "pipeline_stages", lambda clone, env: ["a", "b", "c"])
    with pytest.raises(SystemExit, match="base run 1 did not run c"):
        bench.main(["--base", "B", "--runs", "1"])
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no clone left behind


def test_anchors_are_the_registrys_references_read_in_the_repo_given():
    from stages.families import registry

    anchors = bench.anchors(bench.REPO, dict(os.environ))
    assert anchors == {f: registry.spec(f).reference.anchor for f in registry.names()}
    assert "nbsvm" in anchors and "tfidf_logreg" in anchors
