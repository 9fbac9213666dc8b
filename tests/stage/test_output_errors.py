"""Every stage that cannot write an output exits 1 with one line naming it, and what was there
before is kept, byte for byte, with no temp files left beside it.

Each stage runs for real, through its ``main``, on tiny fixtures (its ``run`` bound to paths under
``tmp_path``; training stages at 1 epoch), against a real obstacle:

- ``full_disk``: a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored, lifted afterwards) lets no
  byte into any regular file, or, for ``compare``, the 4 KiB of the tracking store's probe
  but not the summary; the write fails with EFBIG as it would with ENOSPC. The previous output
  (a file, or a directory of files) is in place.
- ``file_at_output``: a regular file where the stage's output directory goes.
- ``file_at_parent``: a regular file where the output's parent directory goes.

Not every stage meets every obstacle:

- the training stages do not run against a full disk: their sqlite MLflow store is written in
  the same process from the start of the run, so a size limit stops the store (an MLflow error,
  reported as a tracking failure) before any output is written;
- ``compare`` and ``embeddings`` get no file in the way: their outputs' directories hold their
  inputs too (``metrics/``, ``data/prepared/``), so the obstacle would be a missing input;
- a file output (a download, ``embeddings.npy``, ``summary.md``) cannot have a file at its own
  path in the way, and a directory there is an old output that is replaced.
"""

from __future__ import annotations

import contextlib
import functools
import re
import resource
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from stages import (
    compare,
    download,
    embeddings,
    prepare_imdb,
    tokenize_translate,
    train_classifier,
    train_translator,
    vectorize,
)
from stages.common.params import load_params
from stages.common.paths import PARAMS_FILE
from stages.data.sources import load_sources
from stages.families import registry
from stages.tracking.checks import PROBE_BYTES
from tests.archive_fixtures import glove_text, imdb_reviews, write_imdb_tar
from tests.classifier_fixtures import tiny_params as family_params
from tests.classifier_fixtures import tiny_train, write_prepared
from tests.compare_fixtures import (
    log_training_run,
    references,
    sentiment_metrics,
    write_results,
)
from tests.repo_fixtures import TINY_TRANSLATOR, build_mirror
from tests.translate_fixtures import write_translate_csv

PREVIOUS = b"the previous output\n"
# Where a stage prepared its fixtures: returns the output an obstacle blocks (the first it
# writes) and the directories (or files) its outputs live under, previous outputs included.
Prepare = Callable[[Path, pytest.MonkeyPatch], tuple[Path, list[Path]]]


@dataclass(frozen=True)
class Stage:
    module: ModuleType
    argv: tuple[str, ...]
    prepare: Prepare
    obstacles: tuple[str, ...]
    limit: int = 0  # bytes a file may hold under ``full_disk``
    full_disk_error: str = "[Errno 27] File too large"


@functools.cache
def tiny_params() -> object:
    """params.yaml with every family at its tiny size, 1 epoch."""
    raw = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    raw["train"] = tiny_train(**{f: {"epochs": 1} for f in registry.sentiment_families()
                                 if "epochs" in family_params(f)})
    raw["translate"] = {f: {**TINY_TRANSLATOR, "epochs": 1}
                        for f in registry.translator_families()}
    return registry.parse_params(raw)


def bind(monkeypatch: pytest.MonkeyPatch, module: ModuleType, **paths: object) -> None:
    """The stage's ``main`` calls its real ``run``, with ``paths`` under ``tmp_path``."""
    monkeypatch.setattr(module, "run", functools.partial(module.run, **paths))


def download_stage(dataset: str) -> Prepare:
    def prepare(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
        (tmp / "sources.yaml").write_text(yaml.safe_dump(build_mirror(tmp / "mirror")))
        monkeypatch.setenv("NLP_DATA_MIRROR", str(tmp / "mirror"))
        monkeypatch.setattr(download, "load_sources", lambda: load_sources(tmp / "sources.yaml"))
        bind(monkeypatch, download, raw_dir=tmp / "raw")
        names = {"imdb": download.IMDB_FILE, "translate": download.TRANSLATE_FILE,
                 "glove": download.glove_file(load_params().base.glove_dim)}
        (tmp / "raw").mkdir()
        (tmp / "raw" / names[dataset]).write_bytes(PREVIOUS)  # an earlier download
        return tmp / "raw" / names[dataset], [tmp / "raw"]

    return prepare


def previous_metrics(metrics_dir: Path, name: str) -> None:
    """A previous ``metrics/<name>.json``: a stage stopped at its first output keeps it."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    (metrics_dir / f"{name}.json").write_bytes(PREVIOUS)


def prepare_imdb_stage(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    (tmp / "raw").mkdir()
    write_imdb_tar(tmp / "raw" / "aclImdb_v1.tar.gz", imdb_reviews(per_class=10))
    previous_metrics(tmp / "metrics", "prepare_imdb")
    bind(monkeypatch, prepare_imdb, raw_dir=tmp / "raw", prepared_dir=tmp / "prepared",
         metrics_dir=tmp / "metrics")
    return tmp / "prepared" / "imdb", [tmp / "prepared", tmp / "metrics"]


def vectorize_stage(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    write_prepared(tmp / "prepared")  # imdb/ (input) and a previous vectorized/
    previous_metrics(tmp / "metrics", "vectorize")
    bind(monkeypatch, vectorize, prepared_dir=tmp / "prepared", metrics_dir=tmp / "metrics")
    return tmp / "prepared" / "vectorized", [tmp / "prepared", tmp / "metrics"]


def embeddings_stage(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    write_prepared(tmp / "prepared")  # vectorized/ (input) and a previous embeddings.npy
    dim = load_params().base.glove_dim
    (tmp / "raw").mkdir()
    (tmp / "raw" / f"glove.6B.{dim}d.txt").write_bytes(glove_text(dim, words=12))
    previous_metrics(tmp / "metrics", "embeddings")
    bind(monkeypatch, embeddings, raw_dir=tmp / "raw", prepared_dir=tmp / "prepared",
         metrics_dir=tmp / "metrics")
    return tmp / "prepared" / "embeddings.npy", [tmp / "prepared", tmp / "metrics"]


def tokenize_translate_stage(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[Path]]:
    write_translate_csv(tmp / "raw")
    previous_metrics(tmp / "metrics", "tokenize_translate")
    out = tmp / "prepared" / "translate"
    bind(monkeypatch, tokenize_translate, raw_dir=tmp / "raw", out_dir=out,
         metrics_dir=tmp / "metrics")
    return out, [tmp / "prepared", tmp / "metrics"]


def train_stage(family: str) -> Prepare:
    def prepare(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
        prepared = write_prepared(tmp / "prepared")
        previous_metrics(tmp / "metrics", family)
        monkeypatch.setattr(registry, "load_params", lambda *args, **kwargs: tiny_params())
        bind(monkeypatch, train_classifier,
             inputs=train_classifier.Inputs(prepared / "vectorized",
                                            prepared / "embeddings.npy", prepared / "imdb"),
             outputs=train_classifier.Outputs(tmp / "models", tmp / "metrics",
                                              tmp / "metrics" / "plots"))
        return tmp / "models" / family, [tmp / "models", tmp / "metrics"]

    return prepare


def train_translator_stage(family: str) -> Prepare:
    def prepare(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
        data = tmp / "prepared" / "translate"
        tokenize_translate.run(raw_dir=write_translate_csv(tmp / "raw").parent, out_dir=data,
                               metrics_dir=tmp / "prepared")
        previous_metrics(tmp / "metrics", family)
        monkeypatch.setattr(registry, "load_params", lambda *args, **kwargs: tiny_params())
        bind(monkeypatch, train_translator, data_dir=data, models_dir=tmp / "models",
             metrics_dir=tmp / "metrics", plots_dir=tmp / "metrics" / "plots")
        return tmp / "models" / family, [tmp / "models", tmp / "metrics"]

    return prepare


def compare_stage(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    metrics = tmp / "metrics"
    write_results(metrics, tmp / "models")
    log_training_run("lstm", sentiment_metrics("lstm"), models_dir=tmp / "models")  # champion
    (metrics / "summary.md").write_bytes(PREVIOUS)
    bind(monkeypatch, compare, refs=references(), metrics_dir=metrics, plots_dir=tmp / "plots",
         models_dir=tmp / "models", predictions_dir=metrics / "predictions",
         history_dir=metrics / "history")
    return metrics / "summary.md", [metrics, tmp / "plots", tmp / "models"]


# Every stage, by the name its entry point logs under.
STAGES = {
    **{f"download_{dataset}": Stage(download, (dataset,), download_stage(dataset),
                                    ("full_disk", "file_at_parent"))
       for dataset in download.DATASETS},
    "prepare_imdb": Stage(prepare_imdb, (), prepare_imdb_stage,
                          ("full_disk", "file_at_output", "file_at_parent"),
                          # pyarrow's own strerror, which the Parquet writer raises
                          full_disk_error="[Errno 27] Error writing bytes to file. "
                                          "Detail: [errno 27] File too large"),
    "vectorize": Stage(vectorize, (), vectorize_stage, ("full_disk", "file_at_output")),
    "embeddings": Stage(embeddings, (), embeddings_stage, ("full_disk",)),
    "tokenize_translate": Stage(tokenize_translate, (), tokenize_translate_stage,
                                ("full_disk", "file_at_output", "file_at_parent")),
    **{f"train@{family}": Stage(train_classifier, ("--family", family), train_stage(family),
                                ("file_at_output",))
       for family in registry.sentiment_families()},
    **{f"train_translator@{family}": Stage(train_translator, ("--family", family),
                                           train_translator_stage(family), ("file_at_output",))
       for family in registry.translator_families()},
    "compare": Stage(compare, (), compare_stage, ("full_disk",), limit=PROBE_BYTES),
}
CASES = [(name, obstacle) for name, stage in STAGES.items() for obstacle in stage.obstacles]


@contextlib.contextmanager
def full_disk(limit: int) -> Iterator[None]:
    """No regular file of this process grows beyond ``limit`` bytes: writes fail with EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def contents(roots: list[Path]) -> dict[str, bytes | None]:
    """Every path under ``roots`` (temp directories included): a file's bytes, None for a
    directory."""
    found: dict[str, bytes | None] = {}
    for root in roots:
        for path in [root, *(sorted(root.rglob("*")) if root.is_dir() else [])]:
            if path.exists():
                found[str(path)] = path.read_bytes() if path.is_file() else None
    return found


def place_obstacle(obstacle: str, output: Path) -> Path:
    """Put ``obstacle`` in the way of ``output``; return the path holding the previous content."""
    if obstacle == "full_disk":
        if not output.exists():  # else the fixtures wrote a previous output already
            output.mkdir(parents=True)
            (output / "previous.txt").write_bytes(PREVIOUS)
        return output
    blocked = output if obstacle == "file_at_output" else output.parent
    if blocked.is_dir():
        shutil.rmtree(blocked)
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_bytes(PREVIOUS)
    return blocked


def expected_error(stage: Stage, obstacle: str, output: Path) -> str:
    """The one error line's message (a regular expression)."""
    where = re.escape(f"cannot write {output}: ")
    if obstacle == "full_disk":
        return where + re.escape(stage.full_disk_error)
    if obstacle == "file_at_parent":
        return where + re.escape(f"{output.parent} is not a directory")
    # The complete output, in its temp directory beside the target, cannot replace a file.
    temp = re.escape(f"{output.parent}/.{output.name}.tmp-") + "[a-z0-9_]{8}/out"
    return where + rf"\[Errno 20\] Not a directory: '{temp}' -> '{re.escape(str(output))}'"


@pytest.mark.parametrize(("name", "obstacle"), CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_stage_reports_unwritable_output_and_keeps_previous_content(
    name: str,
    obstacle: str,
    tmp_path: Path,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stage = STAGES[name]
    output, roots = stage.prepare(tmp_path, monkeypatch)
    kept = place_obstacle(obstacle, output)
    before = contents(roots)
    assert kept.exists() and str(kept) in before
    capsys.readouterr()

    with full_disk(stage.limit) if obstacle == "full_disk" else contextlib.nullcontext():
        status = stage.module.main(list(stage.argv))

    err = capsys.readouterr().err
    assert status == 1, err[-3000:]
    errors = [line.split(" ERROR ", 1)[1] for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err[-3000:]
    assert re.fullmatch(re.escape(f"{name}: ") + expected_error(stage, obstacle, output),
                        errors[0])
    assert "Traceback" not in err
    assert contents(roots) == before  # the previous content, and nothing else
