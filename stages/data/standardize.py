"""The tokenization standard in pure Python, identical to TensorFlow's ``text.standardize``.

NUL -> space, lowercase, ``<br />`` line breaks -> space, ASCII punctuation stripped; the
patterns below are the ones the TensorFlow version (``stages.data.text``) runs through RE2.
N-gram families and serving can standardize without importing TensorFlow.

Where Python's and TensorFlow's primitives differ (checked over every code point by
``tests/unit/test_standardize.py``):

- ``tf.strings.lower(encoding="utf-8")`` is ICU ``UnicodeString::toLower()``: full case mapping
  (``İ`` -> ``i̇``, final sigma) as ``str.lower``, but with TensorFlow's ICU data (Unicode 13) and
  ICU's default locale, read from ``LC_ALL``/``LC_MESSAGES``/``LANG``. This module matches it
  under a locale without special casing (anything but Turkish, Azeri, Lithuanian); under
  ``tr``/``az``/``lt`` TensorFlow itself lowercases differently (``I`` -> ``ı``), this does not.
- Python 3.11 has Unicode 14: ``_ICU_UNKNOWN`` are the code points it knows and TensorFlow's ICU
  does not (which keeps them as they are and counts them as uncased for final sigma).
- RE2's ``\\s`` is ``[\\t\\n\\f\\r ]`` (no ``\\v``), Python's is Unicode: ``LINE_BREAK`` spells
  the class out so both engines read it the same.
- ``tf.constant`` rejects a lone surrogate (``ValueError``); so does ``standardize_texts``.
"""

from __future__ import annotations

import re
import unicodedata

# Standardized text is whitespace-separated words: the token pattern of its vectorizers.
TOKEN_PATTERN = r"\S+"
# Keras' own "lower_and_strip_punctuation" character class, so tokens match the Keras default.
PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
# IMDB reviews carry HTML line breaks: "<br />", "<br/>", "<br>". The class is RE2's \s.
LINE_BREAK = r"<br[\t\n\f\r ]*/?>"

# Code points added in Unicode 14 (Python 3.11) that are cased or case-ignorable there, unknown to
# TensorFlow 2.21's ICU (Unicode 13); found by comparing both over every code point.
_ICU_UNKNOWN = (
    "\u0888\u0890-\u0891\u0898-\u089f\u08c9-\u08d2\u0c3c\u180f\u1ac1-\u1ace\u1dfa\u2c2f\u2c5f"
    "\ua7c0-\ua7c1\ua7d0-\ua7d1\ua7d3\ua7d5-\ua7d9\ua7f2-\ua7f4\ufbc2\U00010570-\U0001057a"
    "\U0001057c-\U0001058a\U0001058c-\U00010592\U00010594-\U00010595\U00010597-\U000105a1"
    "\U000105a3-\U000105b1\U000105b3-\U000105b9\U000105bb-\U000105bc\U00010780-\U00010785"
    "\U00010787-\U000107b0\U000107b2-\U000107ba\U00010f82-\U00010f85\U00011070"
    "\U00011073-\U00011074\U000110c2\U0001aff0-\U0001aff3\U0001aff5-\U0001affb"
    "\U0001affd-\U0001affe\U0001cf00-\U0001cf2d\U0001cf30-\U0001cf46\U0001df00-\U0001df09"
    "\U0001df0b-\U0001df1e\U0001e2ae"
)
# HANUNOO SIGN PAMUDPOD: Mn (case-ignorable) in Unicode 13, Mc (not) in 14.
_ICU_IGNORABLE = "\u1734"
_UNICODE_VERSION = "14.0.0"  # what _ICU_UNKNOWN and _ICU_IGNORABLE were derived against
_ICU_DIFFERS = re.compile(f"[{_ICU_UNKNOWN}{_ICU_IGNORABLE}]")
# Searching that class is slow (astral ranges): first look for any code point from its lowest on.
_MAY_DIFFER = re.compile("[\u0888-\U0010ffff]")
_ICU_UNKNOWN_SPLIT = re.compile(f"([{_ICU_UNKNOWN}])")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK_RE = re.compile(LINE_BREAK)
# The class is ASCII only: delete it from the UTF-8 bytes (several times faster than re).
_PUNCTUATION_BYTES = bytes(c for c in range(128) if re.fullmatch(PUNCTUATION, chr(c)))

if unicodedata.unidata_version != _UNICODE_VERSION:  # the tables above would be wrong
    raise ImportError(
        f"{__name__} matches TensorFlow's lowercasing for Unicode {_UNICODE_VERSION} "
        f"(Python 3.11); this Python has Unicode {unicodedata.unidata_version}"
    )


def standardize_text(text: str) -> str:
    """One review standardized exactly as ``stages.data.text.standardize`` does it.

    Raises:
        ValueError: ``text`` holds a lone surrogate (not encodable as UTF-8).
    """
    lowered = _LINE_BREAK_RE.sub(" ", _lower(text.replace("\x00", " ")))
    try:
        data = lowered.encode("utf-8")
    except UnicodeEncodeError:
        bad = _SURROGATE.search(text)
        raise ValueError(
            f"lone surrogate {bad.group()!r} at index {bad.start()}: not encodable as UTF-8"
        ) from None
    return data.translate(None, _PUNCTUATION_BYTES).decode("utf-8")


def standardize_texts(texts: list[str]) -> list[str]:
    """``standardize_text`` of each review: whitespace-separated words, as the vectorizer sees.

    Raises:
        ValueError: a text holds a lone surrogate; the message gives its index in ``texts``.
    """
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(standardize_text(text))
        except ValueError as exc:
            raise ValueError(f"text {i}: {exc}") from exc
    return out


def split_tokens(texts: list[str]) -> list[list[bytes]]:
    """Each review's tokens: its standardized text's UTF-8 bytes split on ASCII whitespace, as
    TensorFlow's whitespace split does (``str.split()`` would also split on Unicode spaces such
    as U+00A0, which the vocabulary keeps)."""
    return [text.encode().split() for text in standardize_texts(texts)]

def _lower(text: str) -> str:
    if text.isascii() or not (_MAY_DIFFER.search(text) and _ICU_DIFFERS.search(text)):
        return text.lower()
    # ICU maps a code point it does not know to itself and, for final sigma, counts it neither
    # cased nor case-ignorable, as it counts a string's end: the pieces between lower alone.
    parts = _ICU_UNKNOWN_SPLIT.split(text)
    return "".join(p if i % 2 else _lower_around_ignorable(p) for i, p in enumerate(parts))


def _lower_around_ignorable(text: str) -> str:
    # ICU skips _ICU_IGNORABLE in the final sigma context, Python does not: lower the text
    # without it (removing a case-ignorable character changes no final sigma), then put it back.
    # Only sigma depends on context and stays one code point, so each piece keeps the length of
    # its own lower().
    pieces = text.split(_ICU_IGNORABLE)
    lowered = "".join(pieces).lower()
    out, start = [], 0
    for piece in pieces:
        end = start + len(piece.lower())
        out.append(lowered[start:end])
        start = end
    return _ICU_IGNORABLE.join(out)
