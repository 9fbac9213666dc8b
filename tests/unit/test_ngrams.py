"""NgramIndex learns and counts the n-grams scikit-learn's vectorizers learn and count, and the
nbsvm/tfidf_logreg features built on it give scikit-learn's vocabulary, matrices and
probabilities."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from stages.common.params import from_dict
from stages.data import ngrams
from stages.data.ngrams import NgramIndex
from stages.families import nbsvm, tfidf_logreg
from stages.families.nbsvm import NgramFeatures
from tests.unit.test_nbsvm import synthetic_reviews

TEXTS = [
    "a great film a great film great",
    "not bad at all not bad",
    "bad bad bad plot",
    "",
    "unseen words only here",
    "great\u00a0film with a no-break space and a great plot",
    "film",
]


def vectorizer(**kwargs: object) -> CountVectorizer:
    return CountVectorizer(token_pattern=r"\S+", lowercase=False, dtype=np.float32, **kwargs)


@pytest.mark.parametrize(
    "settings",
    [
        {"ngram_range": (1, 3), "binary": True},
        {"ngram_range": (1, 3), "binary": True, "min_df": 2},
        {"ngram_range": (1, 2), "binary": False},
        {"ngram_range": (1, 2), "binary": False, "max_features": 6},  # n-grams without words
        {"ngram_range": (2, 2), "binary": False},
    ],
)
def test_matches_count_vectorizer(settings: dict) -> None:
    fitted = vectorizer(**settings).fit(TEXTS)
    index = NgramIndex.from_vocabulary(fitted.vocabulary_, settings["ngram_range"][1])
    queries = [*TEXTS, "a great plot not bad", "great great great"]
    got = index.transform(queries, binary=settings["binary"])
    want = fitted.transform(queries)
    assert got.shape == want.shape and got.dtype == np.float32
    assert (got != want).nnz == 0
    assert got.has_sorted_indices


@pytest.mark.parametrize(
    "settings",
    [
        {"ngram_range": (1, 3), "binary": True, "min_df": 2},
        {"ngram_range": (1, 2), "binary": False, "min_df": 1},
        {"ngram_range": (1, 2), "binary": False, "max_features": 6},
        {"ngram_range": (1, 3), "binary": True, "max_features": 9, "min_df": 2},
    ],
)
def test_fit_learns_the_count_vectorizers_vocabulary_and_matrix(settings: dict) -> None:
    texts = [*TEXTS, *synthetic_reviews(30, 4)[0]]
    reference = vectorizer(**settings)
    want = reference.fit_transform(texts)
    counts = ngrams.NgramCounts(
        ngram_max=settings["ngram_range"][1], min_df=settings.get("min_df", 1),
        max_features=settings.get("max_features"), binary=settings["binary"],
    )
    got = counts.fit_transform(texts)
    assert counts.index_.vocabulary() == reference.vocabulary_
    assert got.shape == want.shape and got.dtype == np.float32
    # entry for entry, in scikit-learn's order within each row (not sorted by column)
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, part), getattr(want, part))
    queries = ["a great plot not bad", "great great great", ""]
    assert (counts.transform(queries) != reference.transform(queries)).nnz == 0


def test_fit_without_a_frequent_ngram_raises() -> None:
    with pytest.raises(ValueError, match="no n-gram occurs in min_df=3 of the 2 texts"):
        NgramIndex.fit(["a b", "c d"], ngram_max=2, min_df=3)


def test_no_texts_and_pickling() -> None:
    fitted = vectorizer(ngram_range=(1, 3)).fit(TEXTS)
    index = pickle.loads(pickle.dumps(NgramIndex.from_vocabulary(fitted.vocabulary_, 3)))
    index.transform(TEXTS)
    assert not set(ngrams.DERIVED) & set(pickle.loads(pickle.dumps(index)).__dict__)
    assert index.transform([]).shape == (0, len(fitted.vocabulary_))
    assert (index.transform(TEXTS, binary=False) != fitted.transform(TEXTS)).nnz == 0


def test_too_many_words_for_int64_codes() -> None:
    vocabulary = {f"w{i}": i for i in range(3000)}
    with pytest.raises(ValueError, match="3000 words do not fit 6-gram int64 codes"):
        NgramIndex.from_vocabulary(vocabulary, 6)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_nbsvm_features_are_count_vectorizers(
    n_jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts, labels = synthetic_reviews(40, 3)
    features = NgramFeatures(ngram_max=3, min_df=2, alpha=1.0, max_len=4096)
    reference = vectorizer(ngram_range=(1, 3), min_df=2, binary=True)
    x = reference.fit_transform(texts)
    train_ids = features.fit_transform(texts, labels)
    assert features.vocab_size == len(reference.vocabulary_)
    monkeypatch.setattr(nbsvm, "CHUNK", 9)
    # ids are 1 + the vectorizer's columns: the same n-grams per review.
    for ids in (train_ids, features.transform(texts, n_jobs=n_jobs)):
        assert [sorted(row[row > 0] - 1) for row in ids] == [
            sorted(x[i].indices) for i in range(x.shape[0])]


def test_tfidf_pipeline_is_scikit_learns_tfidf_vectorizer_pipeline() -> None:
    texts, labels = synthetic_reviews(60, 5)
    cfg = from_dict(
        tfidf_logreg.Params,
        {"seed": 0, "ngram_max": 2, "min_df": 2, "max_features": None, "sublinear_tf": True,
         "C": 10.0, "max_iter": 200},
        "train.tfidf_logreg",
    )
    pipeline = pickle.loads(pickle.dumps(tfidf_logreg.build(cfg).fit(texts, labels)))
    reference = make_pipeline(
        TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), min_df=2,
                        sublinear_tf=True, dtype=np.float32),
        LogisticRegression(C=10.0, max_iter=200, random_state=0),
    ).fit(texts, labels)
    queries = [*synthetic_reviews(20, 6)[0], "", "unseen words"]
    np.testing.assert_array_equal(pipeline.predict_proba(queries),
                                  reference.predict_proba(queries))
