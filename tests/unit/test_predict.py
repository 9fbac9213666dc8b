"""``nlp-predict translate`` error handling (no trained model needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stages.commands import predict
from stages.common.io import atomic_write_json
from stages.data.charvocab import CharVocab
from tests.conftest import REPO_ROOT


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A model directory whose vocabulary allows words of up to 3 letters (model file empty)."""
    family_dir = tmp_path / "seq2seq"
    family_dir.mkdir()
    atomic_write_json(family_dir / "vocab.json", CharVocab.from_pairs(["abc"], ["가"]).to_json())
    (family_dir / "model.keras").write_bytes(b"")
    return tmp_path


def _main(models_dir: Path, *words: str) -> int:
    return predict.main(
        ["translate", *words, "--family", "seq2seq", "--models-dir", str(models_dir)]
    )


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("café", "word 'café': character 'é' is outside a-z"),
        ("it's", 'word "it\'s": character "\'" is outside a-z'),
        ("abcd", "word 'abcd' has 4 characters; the model allows at most 3"),
        ("", "empty word"),
    ],
)
def test_unreadable_words_exit_2_with_message(
    models_dir: Path, word: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(models_dir, "ab", word) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"ERROR stages.commands.predict: {message}\n" in captured.err
    assert "Traceback" not in captured.err


def test_missing_model_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(tmp_path, "ab") == 1
    assert (
        f"no trained model in {tmp_path / 'seq2seq'} (run: dvc repro train_translator@seq2seq)"
    ) in capsys.readouterr().err


def test_cli_in_subprocess_has_no_traceback(models_dir: Path) -> None:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "stages.commands.predict", "translate", "héllo"),
            *("--family", "seq2seq", "--models-dir", str(models_dir)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.endswith(
        "ERROR stages.commands.predict: word 'héllo': character 'é' is outside a-z\n"
    )


def test_unknown_family_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        predict.main(["translate", "ab", "--family", "gpt"])
    assert exc.value.code == 2
    assert "invalid choice: 'gpt'" in capsys.readouterr().err
