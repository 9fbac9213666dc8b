"""standardize: the pure-Python standardization gives TensorFlow's result, code point for code
point (``stages.data.text.standardize`` is the reference)."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys

import pytest
import tensorflow as tf

from stages.data.standardize import _ICU_DIFFERS, standardize_text, standardize_texts
from stages.data.text import standardize
from tests.conftest import REPO_ROOT

SIGMA = "\u03a3"
# Every code point a Python str can carry into UTF-8 (surrogates cannot).
CODE_POINTS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
UNKNOWN_TO_ICU = "\U00010570\u2c2f\U0001e2ae"  # Unicode 14: an upper, a lower, a mark
ICU_IGNORABLE = "\u1734"  # case-ignorable in Unicode 13 only


def tf_standardize(texts: list[str]) -> list[str]:
    return [s.decode("utf-8") for s in standardize(tf.constant(texts, dtype=tf.string)).numpy()]


CASES = {
    "accents": ("\u00c9T\u00c9 \u00d1and\u00fa", "\u00e9t\u00e9 \u00f1and\u00fa"),
    # ΟΔΥΣΣΕΥΣ ΣΑ Σ ΑΣ. -> final sigma only after a letter and before none ('.' is ignorable)
    "final_sigma": (
        "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03a3\u0391 \u03a3 \u0391\u03a3.",
        "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2 \u03c3\u03b1 \u03c3 \u03b1\u03c2",
    ),
    "sigma_skips_case_ignorable": ("\u0391\u03a3\u0301 \u0391\u03a3'\u0392",
                                   "\u03b1\u03c2\u0301 \u03b1\u03c3\u03b2"),
    "dotted_capital_i": ("\u0130stanbul", "i\u0307stanbul"),  # full mapping: i + combining dot
    "turkish_i_without_turkish_locale": ("I\u0131\u0130I", "i\u0131i\u0307i"),
    "sharp_s": ("STRASSE \u00df \u1e9e", "strasse \u00df \u00df"),
    "greek_tonos": ("\u0386\u0388\u0389 \u03aa\u03ab", "\u03ac\u03ad\u03ae \u03ca\u03cb"),
    "cyrillic": ("\u041f\u0420\u0418\u0412\u0415\u0422 \u0401\u0436",
                 "\u043f\u0440\u0438\u0432\u0435\u0442 \u0451\u0436"),
    "fullwidth": ("\uff26\uff35\uff2c\uff2c\uff01\uff1f", "\uff46\uff55\uff4c\uff4c\uff01\uff1f"),
    "combining_marks": ("E\u0301CLAIR A\u030a", "e\u0301clair a\u030a"),
    "titlecase_digraph_and_signs": ("\u01c5UNGLA \u212a\u2126\u212b",
                                    "\u01c6ungla k\u03c9\u00e5"),
    "nul_bytes": ("a\x00B\x00\x00c\x00", "a b  c "),
    "line_break_bare": ("a<br>b", "a b"),
    "line_break_upper": ("a<BR/>b<bR  >", "a b "),
    "line_break_spaces": ("a<br   />b", "a b"),
    "line_break_tab": ("a<br\t/>b", "a b"),
    "line_break_newline_cr_ff": ("a<br\n\r\f />b", "a b"),
    "vertical_tab_is_not_re2_space": ("a<br\v/>b", "abr\vb"),
    "nbsp_is_not_re2_space": ("a<br\u00a0/>b", "abr\u00a0b"),
    "space_after_slash": ("a<br/ >b", "abr b"),
    "non_ascii_punctuation_kept": (
        "\u00abC\u00bb \u2014 \u2018x\u2019 \u201cy\u201d \u2026\u00a1",
        "\u00abc\u00bb \u2014 \u2018x\u2019 \u201cy\u201d \u2026\u00a1",
    ),
    "whitespace_kept": ("a\tb\nc\vd\fe\rf\u00a0g\u2003h\u3000i\u2028j\x85k",
                        "a\tb\nc\vd\fe\rf\u00a0g\u2003h\u3000i\u2028j\x85k"),
    "empty": ("", ""),
    "replacement_char": ("\ufffd BAD", "\ufffd bad"),
    # TensorFlow's ICU (Unicode 13) leaves these as they are and does not count them as cased.
    "unknown_to_icu": ("\U00010570\u2c2f A\U0001e2ae\u03a3 \u2c2f\u03a3",
                       "\U00010570\u2c2f a\U0001e2ae\u03c3 \u2c2f\u03c3"),
    "ignorable_to_icu_only": ("A\u1734\u03a3", "a\u1734\u03c2"),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES)
def test_standardize_text_equals_tf_on_odd_text(text: str, expected: str) -> None:
    assert tf_standardize([text]) == [expected]
    assert standardize_text(text) == expected


def test_standardize_text_strips_every_ascii_punctuation_char_and_nothing_else_ascii() -> None:
    texts = [f"a{chr(c)}B" for c in range(128)]
    expected = [
        "ab" if chr(c) in string.punctuation else f"a{chr(c).lower()}b".replace("\x00", " ")
        for c in range(128)
    ]
    assert standardize_texts(texts) == tf_standardize(texts) == expected


def test_standardize_texts_equals_tf_on_every_code_point_in_case_and_line_break_contexts() -> None:
    # Each code point alone, before and after a capital sigma (ICU's and Python's final sigma
    # context: cased, case-ignorable or neither) and inside a line break (RE2's vs Python's \s).
    def contexts(c: str) -> str:
        return f" {c}{SIGMA} A{c}{SIGMA} A{SIGMA}{c} A{SIGMA}{c}A <br{c}/>"

    common = [c for c in CODE_POINTS if not _ICU_DIFFERS.match(c)]
    chunk = 1 << 16
    texts = ["".join(map(contexts, common[i : i + chunk])) for i in range(0, len(common), chunk)]
    texts.append("".join(contexts(c) for c in CODE_POINTS if _ICU_DIFFERS.match(c)))
    assert standardize_texts(texts) == tf_standardize(texts)


def test_standardize_texts_equals_tf_on_random_case_edge_strings() -> None:
    rng = random.Random(0)
    alphabet = f"{SIGMA * 3}Aa\u0130\u0345\u0301' .\x00<br/>{UNKNOWN_TO_ICU}{ICU_IGNORABLE * 2}"
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(20_000)]
    assert standardize_texts(texts) == tf_standardize(texts)


def test_standardize_texts_of_nothing_is_empty() -> None:
    assert standardize_texts([]) == []


def test_line_break_whitespace_class_is_re2_whitespace() -> None:
    # LINE_BREAK spells out RE2's \s; the TF function had "<br\s*/?>" and must not change.
    matches = tf.strings.regex_full_match(tf.constant(CODE_POINTS), r"\s").numpy()
    assert [c for c, m in zip(CODE_POINTS, matches, strict=True) if m] == list("\t\n\f\r ")


def test_standardize_texts_rejects_lone_surrogates_as_tf_does() -> None:
    texts = ["fine", "a\ud800b"]
    with pytest.raises(ValueError, match="converting unicode string"):
        tf.constant(texts, dtype=tf.string)
    with pytest.raises(ValueError, match=r"^text 1: lone surrogate '\\ud800' at index 1: not"):
        standardize_texts(texts)


def test_standardize_module_imports_no_tensorflow() -> None:
    script = ("import sys, stages.data.standardize; print(sorted(m for m in sys.modules "
              "if m.split('.')[0] in ('tensorflow', 'keras')))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_tf_lowercasing_follows_the_locale_and_python_does_not() -> None:
    # ICU takes its default locale from LANG/LC_*: under Turkish casing TensorFlow maps I to
    # dotless i. The pure version keeps root casing, TensorFlow's under any other locale.
    script = ("import tensorflow as tf; "
              "print(tf.strings.lower('I\u0130', encoding='utf-8').numpy().decode('utf-8'))")
    env = {**os.environ, "LANG": "tr_TR.UTF-8", "LC_ALL": "tr_TR.UTF-8",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, env=env, check=True)
    assert proc.stdout.strip() == "\u0131i"
    assert standardize_text("I\u0130") == "ii\u0307"
