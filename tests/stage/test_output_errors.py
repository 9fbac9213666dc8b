"""Stages that cannot write their outputs exit 1 with one clear line naming the path."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

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
from stages.common.io import OutputError
from stages.data.sources import TranslateSource
from stages.models import registry
from tests.translate_fixtures import write_translate_csv

# Every stage, by the name its entry point logs under: (module, argv).
MAINS = {
    **{f"download_{dataset}": (download, [dataset]) for dataset in download.DATASETS},
    "prepare_imdb": (prepare_imdb, []),
    "vectorize": (vectorize, []),
    "embeddings": (embeddings, []),
    "tokenize_translate": (tokenize_translate, []),
    **{f"train@{family}": (train_classifier, ["--family", family])
       for family in registry.sentiment_families()},
    **{f"train_translator@{family}": (train_translator, ["--family", family])
       for family in registry.translator_families()},
    "compare": (compare, []),
}
# What a stage's main reads before calling run: stubbed, so the error comes from run.
LOADERS = ("load_params", "load_sources")


@pytest.mark.parametrize("stage", MAINS)
def test_main_reports_output_error_and_returns_1(
    stage: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, argv = MAINS[stage]
    message = "cannot write /data/out.npy: [Errno 28] No space left on device"

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OutputError(message)

    monkeypatch.setattr(module, "run", full_disk)
    for owner in (module, registry):
        for loader in (name for name in LOADERS if hasattr(owner, name)):
            monkeypatch.setattr(owner, loader, lambda *args, **kwargs: None)
    assert module.main(argv) == 1
    err = capsys.readouterr().err
    errors = [line.split(" ERROR ", 1)[1] for line in err.splitlines() if " ERROR " in line]
    assert errors == [f"{stage}: {message}"]
    assert "Traceback" not in err


def test_tokenize_translate_output_under_a_regular_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_translate_csv(tmp_path / "raw")
    (tmp_path / "prepared").write_text("a file where the output directory should go")
    out_dir = tmp_path / "prepared" / "translate"
    run = functools.partial(tokenize_translate.run, raw_dir=tmp_path / "raw", out_dir=out_dir,
                            metrics_dir=tmp_path / "metrics")
    monkeypatch.setattr(tokenize_translate, "run", run)
    assert tokenize_translate.main([]) == 1
    assert (
        f"ERROR tokenize_translate: cannot write {out_dir}: {tmp_path / 'prepared'} is not "
        "a directory\n" in capsys.readouterr().err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared", "raw"]


def test_download_into_a_regular_file_names_the_output(tmp_path: Path) -> None:
    mirror = write_translate_csv(tmp_path / "mirror").parent
    (tmp_path / "raw").write_text("a file where data/raw should be")
    out = tmp_path / "raw" / "translate.csv"
    source = TranslateSource(url="http://127.0.0.1:9/unused", filename="translate.csv",
                             sha256="0" * 64)
    with pytest.raises(OutputError) as err:
        download.download_translate(source, mirror=mirror, out=out)
    assert str(err.value) == f"cannot write {out}: {tmp_path / 'raw'} is not a directory"
