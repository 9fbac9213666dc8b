"""Character vocabulary of the translators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stages.common.io import atomic_write_json
from stages.data.charvocab import CharVocab, VocabError, romanize


@pytest.fixture
def vocab() -> CharVocab:
    return CharVocab.from_pairs(["ab", "abc"], ["나가", "다"])


def test_tokens_are_specials_letters_then_korean_in_code_point_order(vocab: CharVocab) -> None:
    assert vocab.tokens[:4] == ("<pad>", "<start>", "<end>", "a")
    assert vocab.tokens[28] == "z"
    assert vocab.tokens[29:] == ("가", "나", "다")
    assert (vocab.size, vocab.encoder_length, vocab.decoder_length) == (32, 3, 3)


def test_encode_english_pads_with_zero(vocab: CharVocab) -> None:
    np.testing.assert_array_equal(vocab.encode_english(["ab", "cab"]), [[3, 4, 0], [5, 3, 4]])


def test_encode_korean_adds_start_and_end(vocab: CharVocab) -> None:
    dec_in, dec_out = vocab.encode_korean(["나가", "다"])
    np.testing.assert_array_equal(dec_in, [[1, 30, 29], [1, 31, 0]])
    np.testing.assert_array_equal(dec_out, [[30, 29, 2], [31, 2, 0]])
    assert dec_in.dtype == np.int32


def test_decode_stops_at_end_or_padding(vocab: CharVocab) -> None:
    assert vocab.decode([30, 29, 2, 31]) == "나가"
    assert vocab.decode([31, 0, 30]) == "다"
    assert vocab.decode([2]) == ""


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("aé", "word 'aé': character 'é' is outside a-z"),
        ("Ab", "word 'Ab': character 'A' is outside a-z"),
        ("", "empty word"),
        ("abcd", "word 'abcd' has 4 characters; the model allows at most 3"),
    ],
)
def test_encode_english_rejects(vocab: CharVocab, word: str, message: str) -> None:
    with pytest.raises(VocabError) as err:
        vocab.encode_english(["ab", word])
    assert str(err.value) == message


def test_json_round_trip(vocab: CharVocab, tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "vocab.json", vocab.to_json())
    assert CharVocab.load(tmp_path / "vocab.json") == vocab


def test_romanize() -> None:
    assert [romanize(ch) for ch in "감기한국오다"] == ["gam", "gi", "han", "guk", "o", "da"]
    assert romanize("<end>") == "<end>"
