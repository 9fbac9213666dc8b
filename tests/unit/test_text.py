"""text: the tokenization standard, the vectorizer, vocab.tsv and .npz split readers/writers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from stages.data.text import make_vectorizer, standardize
from stages.data.vectorized import (
    VectorizedFormatError,
    load_split,
    read_vocab,
    read_vocab_counts,
    save_split,
)

VOCAB = ["", "[UNK]", "the", "film", "was"]


def test_standardize_strips_line_breaks_and_punctuation():
    texts = tf.constant(
        [
            "Great film.<br /><br />The END!",
            "Don't<BR>stop<br/>now",
            "a-b (c), d's \u00c9T\u00c9",
        ]
    )
    got = [s.decode() for s in standardize(texts).numpy()]
    assert got == ["great film  the end", "dont stop now", "ab c ds \u00e9t\u00e9"]


def test_make_vectorizer_maps_known_unknown_and_empty():
    vectorizer = make_vectorizer(VOCAB)
    got = vectorizer(tf.constant(["The film<br />WAS great!", ""]))
    assert got.to_list() == [[2, 3, 4, 1], []]


def test_make_vectorizer_adapt_orders_by_frequency():
    vectorizer = make_vectorizer()
    vectorizer.adapt(tf.constant(["b a a c", "a b"]))
    assert vectorizer.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]


def test_adapted_vectorizer_survives_keras_save_and_load(tmp_path):
    vectorizer = make_vectorizer()
    vectorizer.adapt(tf.constant(["film the the", "film<br />end"]))
    model = keras.Sequential([keras.Input(shape=(1,), dtype="string"), vectorizer])
    model.save(tmp_path / "vectorizer.keras")
    restored = keras.models.load_model(tmp_path / "vectorizer.keras")
    layer = restored.get_layer(vectorizer.name)
    assert layer.get_config()["standardize"] is standardize
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "film", "end"]
    assert restored(tf.constant([["The END, film!<br>x"]])).to_list() == [[2, 4, 3, 1]]


@pytest.fixture
def split_path(tmp_path):
    path = tmp_path / "train.npz"
    ids = np.array([5, 2, 3, 4, 6, 7, 8, 9, 2])
    save_split(path, ids=ids, offsets=np.array([0, 3, 4, 4, 9]), labels=np.array([1, 0, 0, 1]))
    return path


def test_load_split_top_k_post_padding_and_truncation(split_path):
    x, y = load_split(split_path, vocab_size=5, seq_len=4)
    expected = [[1, 2, 3, 0], [4, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, [1, 0, 0, 1])
    assert x.dtype == np.int32 and y.dtype == np.int32


def test_load_split_pre_padding_and_truncation(split_path):
    x, _ = load_split(split_path, vocab_size=10, seq_len=3, padding="pre", truncating="pre")
    np.testing.assert_array_equal(x, [[5, 2, 3], [0, 0, 4], [0, 0, 0], [8, 9, 2]])


def test_save_split_is_byte_identical_and_typed(tmp_path, split_path):
    again = tmp_path / "again.npz"
    ids = np.array([5, 2, 3, 4, 6, 7, 8, 9, 2])
    save_split(again, ids=ids, offsets=np.array([0, 3, 4, 4, 9]), labels=np.array([1, 0, 0, 1]))
    assert again.read_bytes() == split_path.read_bytes()
    with np.load(again) as data:
        assert {k: data[k].dtype for k in data.files} == {
            "ids": np.int32,
            "offsets": np.int64,
            "labels": np.int8,
        }


def test_load_split_rejects_inconsistent_offsets(tmp_path):
    path = tmp_path / "bad.npz"
    save_split(path, ids=np.array([2, 3]), offsets=np.array([0, 1, 3]), labels=np.array([0, 1]))
    with pytest.raises(VectorizedFormatError, match=r"bad\.npz: offsets must .* len\(ids\)=2"):
        load_split(path, vocab_size=5, seq_len=2)


def test_read_vocab_keeps_unicode_line_separators_inside_tokens(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("\t0\n[UNK]\t0\nthe\t7\nod\u2028d\t3\ncaf\u00e9\t1\n", encoding="utf-8")
    assert read_vocab(path) == ["", "[UNK]", "the", "od\u2028d", "caf\u00e9"]
    np.testing.assert_array_equal(read_vocab_counts(path)[1], [0, 0, 7, 3, 1])


def test_read_vocab_names_file_and_line_of_a_bad_line(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("\t0\n[UNK]\t0\nthe 7\n", encoding="utf-8")
    with pytest.raises(VectorizedFormatError, match=r"vocab\.tsv:3: expected 'token<TAB>count'"):
        read_vocab(path)


def test_read_vocab_requires_pad_and_unk_first(tmp_path):
    path = tmp_path / "vocab.tsv"
    path.write_text("the\t7\n[UNK]\t0\n", encoding="utf-8")
    with pytest.raises(VectorizedFormatError, match="lines 1-2 must be the pad token"):
        read_vocab(path)
