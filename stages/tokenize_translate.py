"""Tokenize the EN->KO word pairs into padded character ids.

Inputs: ``data/raw/translate.csv`` (UTF-8 with BOM, CRLF, no header, rows ``english,korean``).
Outputs: ``data/prepared/translate/tokens.npz`` (``encoder_input``, ``decoder_input``,
``decoder_target`` int32 padded with 0, plus the ``english`` and ``korean`` words),
``data/prepared/translate/vocab.json`` (see ``stages.data.charvocab``),
``metrics/tokenize_translate.json``.
Params: none.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.common.io import atomic_path, atomic_write_json
from stages.common.paths import METRICS_DIR, PREPARED_DIR, RAW_DIR
from stages.data.charvocab import ENGLISH, CharVocab

log = logging.getLogger(__name__)


class TranslateDataError(StageError):
    """``translate.csv`` is malformed; the message names the file and line."""


def read_pairs(path: Path) -> tuple[list[str], list[str]]:
    """Read and validate ``english,korean`` rows.

    Raises:
        TranslateDataError: a row without exactly 2 fields, an empty field, an English character
            outside a-z, a repeated English word, invalid UTF-8, a field the csv module rejects
            (over 131,072 characters), or no rows at all.
    """
    english: list[str] = []
    korean: list[str] = []
    first_line: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                where = f"{path}:{reader.line_num}"
                en, ko = _check_row(row, where)
                if en in first_line:
                    raise TranslateDataError(
                        f"{where}: english word {en!r} repeats line {first_line[en]}"
                    )
                first_line[en] = reader.line_num
                english.append(en)
                korean.append(ko)
    except UnicodeDecodeError as exc:
        raise TranslateDataError(
            f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
        raise TranslateDataError(f"{path}:{reader.line_num}: {exc}") from exc
    if not english:
        raise TranslateDataError(f"{path}: no rows")
    return english, korean


def _check_row(row: list[str], where: str) -> tuple[str, str]:
    if len(row) != 2:
        raise TranslateDataError(f"{where}: expected 2 fields (english,korean), got {len(row)}")
    for name, field in zip(("english", "korean"), row, strict=True):
        if not field.strip():
            raise TranslateDataError(f"{where}: empty {name} field")
    en, ko = row
    bad = [ch for ch in en if ch not in ENGLISH]
    if bad:
        raise TranslateDataError(f"{where}: english word {en!r}: character {bad[0]!r} is not a-z")
    return en, ko


def run(
    *,
    raw_dir: Path = RAW_DIR,
    out_dir: Path = PREPARED_DIR / "translate",
    metrics_dir: Path = METRICS_DIR,
) -> dict[str, int]:
    """Tokenize ``raw_dir/translate.csv`` into ``out_dir``; return the metrics written."""
    english, korean = read_pairs(raw_dir / "translate.csv")
    vocab = CharVocab.from_pairs(english, korean)
    decoder_input, decoder_target = vocab.encode_korean(korean)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        np.savez(
            tmp / "tokens.npz",
            encoder_input=vocab.encode_english(english),
            decoder_input=decoder_input,
            decoder_target=decoder_target,
            english=np.array(english),
            korean=np.array(korean),
        )
        atomic_write_json(tmp / "vocab.json", vocab.to_json())
    metrics = {
        "pairs": len(english),
        "vocab_size": vocab.size,
        "korean_chars": vocab.size - vocab.index["z"] - 1,
        "encoder_length": vocab.encoder_length,
        "decoder_length": vocab.decoder_length,
    }
    atomic_write_json(metrics_dir / "tokenize_translate.json", metrics)
    log.info("tokenized %d pairs: %s", len(english), metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.tokenize_translate``."""
    return stage_main("tokenize_translate", lambda _: run(), argv, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
