"""Fuzz-style tests: random and malformed inputs give a result or a documented error, nothing else.

Seeded numpy loops (hypothesis is not a dependency), bounded to a second or two each.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from stages.commands import predict
from stages.data.charvocab import ENGLISH, CharVocab, VocabError
from stages.data.standardize import split_tokens
from stages.data.text import make_vectorizer, standardize
from stages.data.vectorized import token_index, tokenize
from stages.tokenize_translate import TranslateDataError, read_pairs

# Row parts: mostly well-formed, sometimes not (quotes, stray separators and line ends, a BOM, NUL,
# upper case, digits, accents, emoji, spaces).
ENGLISH_WORDS = ["ab", "cat", "z", "water", "dog"]
KOREAN_WORDS = ["가", "고양이", "물", "개", "a가", '"가,나"']
BAD_PIECES = ["", ",", '"', '""', "\r\n", "\n", "\r", " ", "\ufeff", "\x00", "A", "é", "1",
              "\t", "😀", "\u2028", "-"]
PUNCTUATION = set('!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\'')
WORDS = ["good", "bad", "movie", "café", "한국", "br"]
REVIEW_CHARS = [chr(i) for i in range(128)] + list("éÉßİΣ한\u2028\u00a0ﬃ😀")


def _pick(rng: np.random.Generator, good: list[str], p_bad: float) -> str:
    word = str(rng.choice(good))
    if rng.random() < p_bad:
        at = int(rng.integers(0, len(word) + 1))
        word = word[:at] + str(rng.choice(BAD_PIECES)) + word[at:]
    return word


def _random_csv(rng: np.random.Generator) -> bytes:
    rows = [
        _pick(rng, ENGLISH_WORDS, 0.08) + _pick(rng, [","], 0.05) + _pick(rng, KOREAN_WORDS, 0.08)
        + _pick(rng, ["\r\n"], 0.05)
        for _ in range(rng.integers(0, 5))
    ]
    data = "".join(rows).encode("utf-8")
    if rng.random() < 0.05:  # invalid UTF-8 somewhere
        at = int(rng.integers(0, len(data) + 1))
        data = data[:at] + bytes([0xFF, 0xC3]) + data[at:]
    if rng.random() < 0.02:  # a field longer than the csv module accepts
        data += b"x" * 140_000 + b",y\r\n"
    return (b"\xef\xbb\xbf" if rng.random() < 0.8 else b"") + data


def _check_pairs(english: list[str], korean: list[str]) -> None:
    """What the tokenizer promises for accepted rows, checked end to end through the vocab."""
    assert len(english) == len(korean) > 0
    assert len(set(english)) == len(english)
    assert all(word and set(word) <= set(ENGLISH) for word in english)
    assert all(word.strip() for word in korean)
    vocab = CharVocab.from_pairs(english, korean)
    encoded = vocab.encode_english(english)
    dec_in, dec_out = vocab.encode_korean(korean)
    assert [vocab.decode(row) for row in encoded] == english
    assert [vocab.decode(row) for row in dec_out] == korean
    assert [vocab.decode(row) for row in dec_in] == korean  # the start token decodes to ""
    assert encoded.max() < vocab.size and dec_out.max() < vocab.size


def test_translate_tokenizer_random_rows_parse_or_name_file_and_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "translate.csv"
    outcomes: dict[str, int] = {"ok": 0, "error": 0}
    for _ in range(400):
        path.write_bytes(_random_csv(rng))
        try:
            english, korean = read_pairs(path)
        except TranslateDataError as exc:
            assert re.match(rf"{re.escape(str(path))}(:\d+)?: \S", str(exc)), str(exc)
            outcomes["error"] += 1
            continue
        _check_pairs(english, korean)
        outcomes["ok"] += 1
    assert outcomes["ok"] >= 40 and outcomes["error"] >= 100, outcomes


def test_translate_tokenizer_field_over_csv_limit_names_line(tmp_path: Path) -> None:
    path = tmp_path / "translate.csv"
    path.write_bytes(b"ab,\xea\xb0\x80\r\ncd," + b"x" * 140_000 + b"\r\n")
    with pytest.raises(TranslateDataError) as err:
        read_pairs(path)
    assert str(err.value) == f"{path}:2: field larger than field limit (131072)"


def test_translator_input_words_encode_or_raise_vocab_error() -> None:
    """What predict does with a word before loading a model: encode it or reject it."""
    vocab = CharVocab.from_pairs(["cat", "water"], ["고양이", "물"])
    rng = np.random.default_rng(11)
    # Upper case, digits, NUL, a surrogate (argv's undecodable bytes), Hangul; "\u212a" (Kelvin
    # sign) lowercases to ASCII "k", "\u0130" (İ) to "i" plus a combining dot.
    alphabet = [*ENGLISH, *"ABZ09 -'\x00é\u0130\u212a\udcff한😀"]
    accepted = 0
    for _ in range(2000):
        word = "".join(rng.choice(alphabet, size=rng.integers(0, 8))).lower()
        try:
            row = vocab.encode_english([word])[0]
        except VocabError as exc:
            assert str(exc) == "empty word" or repr(word) in str(exc)
            continue
        assert vocab.decode(row) == word
        accepted += 1
    assert 50 <= accepted < 2000


@pytest.mark.parametrize("word", ["Ünïcode", "two words", "\udcff", "x" * 6, ""])
def test_predict_translate_rejects_unreadable_words_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], word: str
) -> None:
    model_dir = tmp_path / "seq2seq"
    model_dir.mkdir()
    (model_dir / "model.keras").write_bytes(b"never loaded: the word is rejected first")
    (model_dir / "vocab.json").write_text(
        '{"tokens": ["<pad>", "<start>", "<end>"], "encoder_length": 5, "decoder_length": 3}'
    )
    argv = ["translate", word, "--family", "seq2seq", "--models-dir", str(tmp_path)]
    assert predict.main(argv) == 2
    assert "ERROR stages.commands.predict: " in capsys.readouterr().err


def _reference_standard(text: str) -> str:
    """The documented standard, written out in Python: NUL -> space, lowercase, line breaks ->
    space, ASCII punctuation removed."""
    text = re.sub(r"<br\s*/?>", " ", text.replace("\x00", " ").lower())
    return "".join(ch for ch in text if ch not in PUNCTUATION)


def _reference_tokens(text: str) -> list[str]:
    """The standard, split on ASCII whitespace (what tf.strings.split uses)."""
    return [token for token in re.split(r"[ \t\n\v\f\r]+", _reference_standard(text)) if token]


def _random_review(rng: np.random.Generator) -> str:
    parts = []
    for _ in range(rng.integers(0, 12)):
        kind = rng.random()
        if kind < 0.4:
            word = str(rng.choice(WORDS))
            parts.append(word.upper() if rng.random() < 0.2 else word)
        elif kind < 0.5:
            parts.append("<br />")
        else:
            parts.append("".join(rng.choice(REVIEW_CHARS, size=rng.integers(1, 6))))
    return "".join(parts)


def test_vectorizer_random_reviews_match_the_documented_standard() -> None:
    vocabulary = ["", "[UNK]", *WORDS]
    index = {token: i for i, token in enumerate(vocabulary)}
    vectorizer = make_vectorizer(vocabulary)
    rng = np.random.default_rng(3)
    texts = [_random_review(rng) for _ in range(500)] + ["good\x00BAD", "\x00", "<br/>Movie!"]
    ids, offsets = tokenize(token_index(vocabulary), split_tokens(texts))  # the stage's path
    assert len(offsets) == len(texts) + 1 and offsets[-1] == len(ids)
    keras = vectorizer(tf.constant(texts)).to_list()  # the Keras layer it reproduces
    for i, text in enumerate(texts):
        expected = [index.get(token, 1) for token in _reference_tokens(text)]
        assert ids[offsets[i] : offsets[i + 1]].tolist() == expected == keras[i], repr(text)
    assert ids[offsets[-4] : offsets[-3]].tolist() == [index["good"], index["bad"]]


def test_vectorizer_random_bytes_never_crash_and_give_valid_ids() -> None:
    vectorizer = make_vectorizer(["", "[UNK]", *WORDS])
    rng = np.random.default_rng(5)
    reviews = [rng.bytes(int(rng.integers(0, 200))) for _ in range(300)]
    reviews += [b"good \xff\xfe bad", b"\xc3", b"movie\x00\xed\xa0\x80 good"]
    ragged = vectorizer(tf.constant(reviews, dtype=tf.string))
    assert ragged.shape[0] == len(reviews)
    flat = ragged.flat_values.numpy()
    assert flat.size and flat.min() >= 1 and flat.max() < len(WORDS) + 2  # never the pad id
    assert ragged[-3].numpy().tolist() == [2, 1, 3]  # invalid UTF-8 -> U+FFFD -> [UNK]
    assert ragged[-1].numpy().tolist() == [4, 1, 2]  # NUL -> space; the words after it remain
    standardized = [s.decode("utf-8") for s in standardize(tf.constant(reviews)).numpy()]
    # Always valid UTF-8 out (a strict decode), and the documented standard of the input read
    # with one U+FFFD per maximal invalid subpart, as Python's "replace" reads it.
    assert standardized == [_reference_standard(r.decode("utf-8", "replace")) for r in reviews]
    bad = "\ufffd"
    assert standardized[-3:] == [f"good {bad * 2} bad", bad, f"movie {bad * 3} good"]
    assert sum("\ufffd" in s for s in standardized) > 250  # random bytes: mostly invalid
