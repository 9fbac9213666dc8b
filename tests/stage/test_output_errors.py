"""Stages that cannot write their outputs exit 1 with one clear line naming the path."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from stages import download, embeddings, prepare_imdb, tokenize_translate, vectorize
from stages.common.io import OutputError
from stages.common.sources import TranslateSource
from tests.translate_fixtures import write_translate_csv

MAINS = {
    "download": (download, ["translate"], "download translate failed: "),
    "prepare_imdb": (prepare_imdb, [], ""),
    "vectorize": (vectorize, [], ""),
    "embeddings": (embeddings, [], ""),
    "tokenize_translate": (tokenize_translate, [], ""),
}


@pytest.mark.parametrize("stage", sorted(MAINS))
def test_main_reports_output_error_and_returns_1(
    stage: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module, argv, prefix = MAINS[stage]
    message = "cannot write /data/out.npy: [Errno 28] No space left on device"

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OutputError(message)

    monkeypatch.setattr(module, "run", full_disk)
    if hasattr(module, "load_params"):
        monkeypatch.setattr(module, "load_params", lambda: None)
    monkeypatch.setattr(download, "load_sources", lambda: None)
    assert module.main(argv) == 1
    err = capsys.readouterr().err
    assert f"ERROR stages.{stage}: {prefix}{message}\n" in err
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
        f"ERROR stages.tokenize_translate: cannot write {out_dir}: {tmp_path / 'prepared'} is not "
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
