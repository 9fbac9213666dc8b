"""embeddings: GloVe rows per vocabulary id, OOV policy, coverage, strict GloVe parsing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from stages import embeddings
from stages.common.params import load_params

DIM = 50
VOCAB = [("", 0), ("[UNK]", 0), ("the", 10), ("movie", 5), ("zzqx", 3), ("caf\u00e9", 2)]


def vector(k: int) -> np.ndarray:
    """A row whose values are exact in binary, so text and float32 agree."""
    return np.arange(DIM, dtype=np.float32) * 0.125 + k


def glove_line(word: str, k: int) -> str:
    return " ".join([word, *(repr(float(v)) for v in vector(k))])


def params_with(oov: str = "zero", seed: int = 1337, dim: int = DIM):
    params = load_params()
    return dataclasses.replace(
        params,
        base=dataclasses.replace(params.base, seed=seed, glove_dim=dim),
        embeddings=dataclasses.replace(params.embeddings, oov=oov),
    )


@pytest.fixture
def inputs(tmp_path):
    vectorized = tmp_path / "prepared" / "vectorized"
    vectorized.mkdir(parents=True)
    vocab = "".join(f"{token}\t{count}\n" for token, count in VOCAB)
    (vectorized / "vocab.tsv").write_text(vocab, encoding="utf-8")
    (tmp_path / "raw").mkdir()
    # "movie" twice: the first line wins; "other" is not in the vocabulary.
    lines = [("the", 1), ("other", 2), ("caf\u00e9", 3), ("movie", 4), ("movie", 5)]
    write_glove(tmp_path, [glove_line(w, k) for w, k in lines])
    return tmp_path


def write_glove(tmp_path, lines: list[str], dim: int = DIM):
    path = tmp_path / "raw" / f"glove.6B.{dim}d.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def run_stage(tmp_path, **params):
    metrics = embeddings.run(
        params_with(**params),
        raw_dir=tmp_path / "raw",
        prepared_dir=tmp_path / "prepared",
        metrics_dir=tmp_path / "metrics",
    )
    return metrics, np.load(tmp_path / "prepared" / "embeddings.npy")


def test_embeddings_zero_oov_rows_and_coverage(inputs):
    metrics, matrix = run_stage(inputs)
    assert matrix.dtype == np.float32 and matrix.shape == (6, DIM)
    zero = np.zeros(DIM, dtype=np.float32)
    expected = np.stack([zero, zero, vector(1), vector(4), zero, vector(3)])
    np.testing.assert_array_equal(matrix, expected)
    expected_metrics = {
        "glove_dim": 50,
        "glove_words": 5,
        "vocab_size": 6,
        "vocab_coverage": 0.75,
        "token_coverage": 0.85,  # (10 + 5 + 2) / 20 occurrences
        "vocab_coverage_top20k": 0.75,
        "token_coverage_top20k": 0.85,
    }
    assert metrics == expected_metrics
    saved = json.loads((inputs / "metrics" / "embeddings.json").read_text())
    assert saved == expected_metrics


def test_embeddings_random_oov_rows_are_seeded(inputs):
    _, first = run_stage(inputs, oov="random", seed=7)
    _, again = run_stage(inputs, oov="random", seed=7)
    _, other = run_stage(inputs, oov="random", seed=8)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[:2], 0.0)
    np.testing.assert_array_equal(first[[2, 3, 5]], np.stack([vector(1), vector(4), vector(3)]))
    std = np.stack([vector(1), vector(4), vector(3)]).std()
    expected_oov = np.random.default_rng(7).normal(0.0, std, size=(6, DIM))[4]
    np.testing.assert_allclose(first[4], expected_oov.astype(np.float32))
    assert not np.array_equal(first[4], other[4])


def test_coverage_of_top_k_counts_rarer_words_as_uncovered():
    found = np.array([False, False, True, False, True, True])
    counts = np.array([0, 0, 10, 5, 3, 2])
    assert embeddings.coverage(found, counts, top_k=4) == (0.5, 0.5)
    assert embeddings.coverage(found, counts) == (0.75, 0.75)


def test_glove_line_with_wrong_field_count_names_line(inputs):
    bad = " ".join(glove_line("other", 2).split()[:-1])
    write_glove(inputs, [glove_line("the", 1), glove_line("a", 2), bad, glove_line("b", 3)])
    with pytest.raises(
        embeddings.GloveFormatError,
        match=r"glove\.6B\.50d\.txt:3: expected a word and 50 numbers .* got 50",
    ):
        run_stage(inputs)


def test_glove_bad_number_in_vocabulary_word_names_line(inputs):
    fields = glove_line("movie", 4).split()
    bad = " ".join([*fields[:2], "x.y", *fields[3:]])
    write_glove(inputs, [glove_line("the", 1), bad])
    with pytest.raises(embeddings.GloveFormatError, match=r"glove\.6B\.50d\.txt:2: .*x\.y"):
        run_stage(inputs)


def test_glove_dimension_mismatch(inputs):
    wide = " ".join(["the", *["0.5"] * 100])
    write_glove(inputs, [wide])
    message = r"50d\.txt: vectors have 100 dimensions \(line 1\), but base\.glove_dim is 50"
    with pytest.raises(embeddings.GloveFormatError, match=message):
        run_stage(inputs)


def test_no_vocabulary_word_in_glove_is_an_error(inputs):
    write_glove(inputs, [glove_line("other", 1)])
    with pytest.raises(embeddings.EmbeddingsError, match="none of the 4 vocabulary words found"):
        run_stage(inputs)
    assert not (inputs / "prepared" / "embeddings.npy").exists()
