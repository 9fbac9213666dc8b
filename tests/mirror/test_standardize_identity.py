"""The pure-Python standardization and token ids are TensorFlow's, on every labeled review.

``stages.data.standardize.standardize_texts`` (what the n-gram families and serving run) against
``stages.data.text.standardize`` (the TensorFlow op of the Keras ``TextVectorization``), and
``TokenIdEncoder.token_ids`` (what serving runs, over the vectorize stage's whole vocabulary)
against that ``TextVectorization``: equal review for review, id for id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import vectorize
from stages.common.params import load_params
from stages.data.standardize import standardize_texts
from stages.data.vectorized import read_vocab
from stages.models.textmodel import TokenIdEncoder

pytestmark = pytest.mark.mirror


def differences(paths: list[str], ours: list, theirs: list, same: Callable) -> str:
    """'' if every review's outputs are ``same``; else how many differ and the first three."""
    assert len(ours) == len(theirs) == len(paths)
    bad = [(path, a, b) for path, a, b in zip(paths, ours, theirs, strict=True) if not same(a, b)]
    shown = "".join(f"\n{path}:\n  python:     {a!r}\n  tensorflow: {b!r}"
                    for path, a, b in bad[:3])
    return f"{len(bad)} of {len(paths)} reviews differ{shown}" if bad else ""


@pytest.fixture(scope="module")
def vocabulary(prepared: Path) -> list[str]:
    """``vocab.tsv`` of the vectorize stage, run on the prepared splits."""
    vectorize.run(load_params(), prepared_dir=prepared, metrics_dir=prepared)
    return read_vocab(prepared / "vectorized" / "vocab.tsv")


def test_standardize_texts_is_tensorflows(reviews: pd.DataFrame):
    import tensorflow as tf

    from stages.data.text import standardize

    texts = reviews["text"].tolist()
    theirs = [text.decode("utf-8") for text in standardize(tf.constant(texts)).numpy()]
    ours = standardize_texts(texts)
    assert differences(reviews["path"].tolist(), ours, theirs, str.__eq__) == ""


def test_token_ids_are_text_vectorizations(reviews: pd.DataFrame, vocabulary: list[str]):
    import tensorflow as tf

    from stages.data.text import make_vectorizer

    texts = reviews["text"].tolist()
    ragged = make_vectorizer(vocabulary)(tf.constant(texts))
    theirs = np.split(ragged.flat_values.numpy(), ragged.row_splits.numpy()[1:-1])
    encoder = TokenIdEncoder(vocabulary, vocab_size=len(vocabulary), seq_len=1, padding="post",
                             truncating="post")
    ours = encoder.token_ids(texts)
    assert differences(reviews["path"].tolist(), ours, theirs, np.array_equal) == ""
