"""Character vocabulary of the EN->KO translators, shared by tokenizing, training and predict.

Token ids: 0 padding, 1 start, 2 end, then ``a``-``z``, then the Korean characters of the data in
code point order. The encoder reads English characters padded to ``encoder_length``; the decoder
reads start + Korean and predicts Korean + end, ``decoder_length`` steps.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.errors import StageError

PAD, START, END = 0, 1, 2
SPECIALS = ("<pad>", "<start>", "<end>")
ENGLISH = string.ascii_lowercase


# Revised Romanization of a Hangul syllable's initial, vowel and final (for plot labels: the
# default matplotlib fonts have no Hangul glyphs).
_INITIALS = "g kk n d tt r m b pp s ss - j jj ch k t p h".split()
_VOWELS = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_FINALS = "- k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()


def romanize(char: str) -> str:
    """Romanize one Hangul syllable (``감`` -> ``gam``); any other token is returned as is."""
    code = ord(char) - 0xAC00 if len(char) == 1 else -1
    if not 0 <= code < 19 * 21 * 28:
        return char
    syllable = _INITIALS[code // (21 * 28)] + _VOWELS[code // 28 % 21] + _FINALS[code % 28]
    return syllable.replace("-", "")


class VocabError(StageError):
    """A word cannot be encoded with the vocabulary."""


@dataclass(frozen=True)
class CharVocab:
    """Token list plus the sequence lengths the models were built for."""

    tokens: tuple[str, ...]
    encoder_length: int
    decoder_length: int

    @classmethod
    def from_pairs(cls, english: Sequence[str], korean: Sequence[str]) -> CharVocab:
        """Derive the vocabulary and lengths from validated word pairs."""
        korean_chars = sorted(set("".join(korean)) - set(ENGLISH))
        return cls(
            tokens=(*SPECIALS, *ENGLISH, *korean_chars),
            encoder_length=max(map(len, english)),
            decoder_length=max(map(len, korean)) + 1,
        )

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def encode_english(self, words: Iterable[str]) -> np.ndarray:
        """English words -> int32 [n, encoder_length], post-padded with 0.

        Raises:
            VocabError: a character outside a-z, an empty word, or a word longer than the model.
        """
        words = list(words)
        out = np.zeros((len(words), self.encoder_length), dtype=np.int32)
        for row, word in enumerate(words):
            if not word:
                raise VocabError("empty word")
            bad = [ch for ch in word if ch not in ENGLISH]
            if bad:
                raise VocabError(f"word {word!r}: character {bad[0]!r} is outside a-z")
            if len(word) > self.encoder_length:
                raise VocabError(
                    f"word {word!r} has {len(word)} characters; "
                    f"the model allows at most {self.encoder_length}"
                )
            out[row, : len(word)] = [ENGLISH.index(ch) + len(SPECIALS) for ch in word]
        return out

    def encode_korean(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Korean words -> (decoder_input = start + chars, decoder_target = chars + end)."""
        index = self.index
        dec_in = np.zeros((len(words), self.decoder_length), dtype=np.int32)
        dec_out = np.zeros_like(dec_in)
        for row, word in enumerate(words):
            ids = [index[ch] for ch in word]
            dec_in[row, : len(ids) + 1] = [START, *ids]
            dec_out[row, : len(ids) + 1] = [*ids, END]
        return dec_in, dec_out

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text, stopping at the first end or padding token."""
        chars = []
        for i in ids:
            if i in (END, PAD):
                break
            chars.append(self.tokens[i] if i != START else "")
        return "".join(chars)

    def to_json(self) -> dict[str, object]:
        return {
            "tokens": list(self.tokens),
            "encoder_length": self.encoder_length,
            "decoder_length": self.decoder_length,
        }

    @classmethod
    def load(cls, path: Path) -> CharVocab:
        """Read ``vocab.json`` written by the tokenize_translate stage."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(
            tokens=tuple(data["tokens"]),
            encoder_length=int(data["encoder_length"]),
            decoder_length=int(data["decoder_length"]),
        )
