"""Tiny EN->KO fixtures in the real ``translate.csv`` format (UTF-8 BOM, CRLF, no header)."""

from __future__ import annotations

from pathlib import Path

# Varied lengths, so padding on both sides is exercised; small enough to memorize in seconds.
PAIRS = [("ab", "가나"), ("ba", "나가"), ("abc", "다"), ("cab", "가다나")]


def write_translate_csv(raw_dir: Path, text: str | None = None) -> Path:
    """Write ``raw_dir/translate.csv`` from ``text`` (lines joined by CRLF) or from PAIRS."""
    if text is None:
        text = "".join(f"{en},{ko}\r\n" for en, ko in PAIRS)
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / "translate.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path
