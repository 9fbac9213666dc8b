"""tokenize_translate on tiny CSV fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stages import tokenize_translate
from stages.tokenize_translate import TranslateDataError
from tests.translate_fixtures import write_translate_csv


def _run(tmp_path: Path) -> dict[str, int]:
    return tokenize_translate.run(
        raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", metrics_dir=tmp_path / "metrics"
    )


def test_run_writes_padded_ids_vocab_and_metrics(tmp_path: Path) -> None:
    write_translate_csv(tmp_path / "raw", "ab,가나\r\nabc,다\r\n")
    metrics = _run(tmp_path)
    expected = {
        "pairs": 2,
        "vocab_size": 32,
        "korean_chars": 3,
        "encoder_length": 3,
        "decoder_length": 3,
    }
    assert metrics == expected
    assert json.loads((tmp_path / "metrics" / "tokenize_translate.json").read_text()) == expected
    with np.load(tmp_path / "out" / "tokens.npz") as npz:
        np.testing.assert_array_equal(npz["encoder_input"], [[3, 4, 0], [3, 4, 5]])
        np.testing.assert_array_equal(npz["decoder_input"], [[1, 29, 30], [1, 31, 0]])
        np.testing.assert_array_equal(npz["decoder_target"], [[29, 30, 2], [31, 2, 0]])
        assert npz["encoder_input"].dtype == np.int32
        assert list(npz["english"]) == ["ab", "abc"]  # the BOM is not part of the first word
        assert list(npz["korean"]) == ["가나", "다"]
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["tokens"][:3] == ["<pad>", "<start>", "<end>"]
    assert vocab["tokens"][29:] == ["가", "나", "다"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ab,가나\r\nba,나가,x\r\n", "2: expected 2 fields (english,korean), got 3"),
        ("ab,가나\r\nba\r\n", "2: expected 2 fields (english,korean), got 1"),
        ("ab,가나\r\n\r\nba,나가\r\n", "2: expected 2 fields (english,korean), got 0"),
        ("ab,가나\r\nba,\r\n", "2: empty korean field"),
        ("ab,가나\r\n ,나가\r\n", "2: empty english field"),
        ("ab,가나\r\nbA,나가\r\n", "2: english word 'bA': character 'A' is not a-z"),
        ("ab,가나\r\nba,나가\r\nab,다\r\n", "3: english word 'ab' repeats line 1"),
        ("", " no rows"),
    ],
)
def test_bad_rows_name_file_and_line_and_write_nothing(
    tmp_path: Path, text: str, message: str
) -> None:
    csv_path = write_translate_csv(tmp_path / "raw", text)
    with pytest.raises(TranslateDataError) as err:
        _run(tmp_path)
    assert str(err.value) == f"{csv_path}:{message}"
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "metrics").exists()


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    csv_path = tmp_path / "raw" / "translate.csv"
    csv_path.parent.mkdir()
    csv_path.write_bytes(b"ab,\xff\xfe\r\n")
    with pytest.raises(TranslateDataError) as err:
        _run(tmp_path)
    assert str(err.value) == f"{csv_path}: not valid UTF-8 (invalid start byte at byte 3)"


def test_main_logs_data_errors_and_returns_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def bad_run() -> None:
        raise TranslateDataError("translate.csv:7: empty korean field")

    monkeypatch.setattr(tokenize_translate, "run", bad_run)
    assert tokenize_translate.main([]) == 1
    assert "ERROR tokenize_translate: translate.csv:7: empty korean field" in (
        capsys.readouterr().err
    )
