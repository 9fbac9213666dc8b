"""vectorize: vocabulary adapted on train only, frequency order, ids/offsets/labels, metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from stages import vectorize
from stages.common.params import load_params
from stages.data.text import make_vectorizer
from stages.data.vectorized import load_split, read_vocab

SPLITS = {
    "train": (["the cat sat", "The cat<br />ran!", "the dog"], [1, 0, 1]),
    "val": (["the bird", "Cat."], [0, 1]),
    "test": (["Dog, the CAT.", ""], [1, 0]),
}


@pytest.fixture
def prepared(tmp_path):
    out = tmp_path / "prepared" / "imdb"
    out.mkdir(parents=True)
    for name, (texts, labels) in SPLITS.items():
        frame = pd.DataFrame(
            {
                "text": texts,
                "label": labels,
                "path": [f"{name}/{i}.txt" for i in range(len(texts))],
            }
        )
        frame.astype({"label": "int8"}).to_parquet(out / f"{name}.parquet", index=False)
    return tmp_path


def run_stage(tmp_path):
    return vectorize.run(
        load_params(), prepared_dir=tmp_path / "prepared", metrics_dir=tmp_path / "metrics"
    )


def test_vectorize_writes_frequency_ordered_train_vocab(prepared):
    run_stage(prepared)
    vocab_file = prepared / "prepared" / "vectorized" / "vocab.tsv"
    # the: 3, cat: 2; count ties are ordered by Keras (reverse token order); "bird" is val-only.
    assert vocab_file.read_text(encoding="utf-8") == (
        "\t0\n[UNK]\t0\nthe\t3\ncat\t2\nsat\t1\nran\t1\ndog\t1\n"
    )


def test_vectorize_writes_ids_offsets_labels(prepared):
    run_stage(prepared)
    out = prepared / "prepared" / "vectorized"
    expected = {
        "train": ([2, 3, 4, 2, 3, 5, 2, 6], [0, 3, 6, 8], [1, 0, 1]),
        "val": ([2, 1, 3], [0, 2, 3], [0, 1]),
        "test": ([6, 2, 3], [0, 3, 3], [1, 0]),
    }
    for name, (ids, offsets, labels) in expected.items():
        with np.load(out / f"{name}.npz") as data:
            np.testing.assert_array_equal(data["ids"], ids)
            np.testing.assert_array_equal(data["offsets"], offsets)
            np.testing.assert_array_equal(data["labels"], labels)
            assert (data["ids"].dtype, data["offsets"].dtype, data["labels"].dtype) == (
                np.int32,
                np.int64,
                np.int8,
            )
    x, y = load_split(out / "train.npz", vocab_size=4, seq_len=2)
    np.testing.assert_array_equal(x, [[2, 3], [2, 3], [2, 1]])
    np.testing.assert_array_equal(y, [1, 0, 1])


def test_vectorizer_rebuilt_from_vocab_gives_stored_ids(prepared):
    run_stage(prepared)
    out = prepared / "prepared" / "vectorized"
    vectorizer = make_vectorizer(read_vocab(out / "vocab.tsv"))
    got = vectorizer(tf.constant(SPLITS["val"][0])).flat_values.numpy()
    with np.load(out / "val.npz") as data:
        np.testing.assert_array_equal(got, data["ids"])


def test_vectorize_metrics(prepared):
    metrics = run_stage(prepared)
    expected = {
        "vocab_size": 7,
        "train_tokens": 8,
        "val_tokens": 3,
        "test_tokens": 3,
        "val_unk_fraction": 0.333333,
        "test_unk_fraction": 0.0,
        "train_length_median": 3.0,
        "train_length_p90": 3.0,
        "train_frac_longer_than_200": 0.0,
        "train_frac_longer_than_400": 0.0,
        "train_frac_longer_than_600": 0.0,
    }
    assert metrics == expected
    assert json.loads((prepared / "metrics" / "vectorize.json").read_text()) == expected


def test_vocab_counts_rejects_vocabulary_not_in_frequency_order():
    vocab = ["", "[UNK]", "a", "b"]
    with pytest.raises(vectorize.VectorizeError, match="not ordered by decreasing"):
        vectorize.vocab_counts(vocab, np.array([2, 3, 3]))
    np.testing.assert_array_equal(vectorize.vocab_counts(vocab, np.array([2, 3, 2])), [0, 0, 2, 1])
