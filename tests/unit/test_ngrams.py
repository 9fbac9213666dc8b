"""NgramIndex counts the n-grams scikit-learn's vectorizers count, and the nbsvm/tfidf_logreg
fast paths built on it give scikit-learn's vocabulary, matrices and probabilities."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer

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
    index = NgramIndex(fitted.vocabulary_, settings["ngram_range"][1])
    queries = [*TEXTS, "a great plot not bad", "great great great"]
    got = index.transform(queries, binary=settings["binary"])
    want = fitted.transform(queries)
    assert got.shape == want.shape and got.dtype == np.float32
    assert (got != want).nnz == 0
    assert got.has_sorted_indices


def test_no_texts_and_pickling() -> None:
    fitted = vectorizer(ngram_range=(1, 3)).fit(TEXTS)
    index = pickle.loads(pickle.dumps(NgramIndex(fitted.vocabulary_, 3)))
    index.transform(TEXTS)
    assert not set(ngrams.DERIVED) & set(pickle.loads(pickle.dumps(index)).__dict__)
    assert index.transform([]).shape == (0, len(fitted.vocabulary_))
    assert (index.transform(TEXTS, binary=False) != fitted.transform(TEXTS)).nnz == 0


def test_too_many_words_for_int64_codes() -> None:
    vocabulary = {f"w{i}": i for i in range(3000)}
    with pytest.raises(ValueError, match="3000 words do not fit 6-gram int64 codes"):
        NgramIndex(vocabulary, 6)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_nbsvm_features_are_count_vectorizers(
    n_jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts, labels = synthetic_reviews(40, 3)
    features = NgramFeatures(ngram_max=3, min_df=2, alpha=1.0, max_len=4096)
    reference = clone(features.vectorizer)
    x = reference.fit_transform(texts)
    train_ids = features.fit_transform(texts, labels)
    assert features.vocab_size == len(reference.vocabulary_)
    assert not hasattr(features.vectorizer, "vocabulary_")  # only the index is pickled
    monkeypatch.setattr(nbsvm, "CHUNK", 9)
    # ids are 1 + the vectorizer's columns: the same n-grams per review.
    for ids in (train_ids, features.transform(texts, n_jobs=n_jobs)):
        assert [sorted(row[row > 0] - 1) for row in ids] == [
            sorted(x[i].indices) for i in range(x.shape[0])]


def test_tfidf_scorer_is_the_pipeline() -> None:
    texts, labels = synthetic_reviews(60, 5)
    cfg = from_dict(
        tfidf_logreg.Params,
        {"seed": 0, "ngram_max": 2, "min_df": 2, "max_features": None, "sublinear_tf": True,
         "C": 10.0, "max_iter": 200},
        "train.tfidf_logreg",
    )
    pipeline = tfidf_logreg.build(cfg).fit(texts, labels)
    queries = [*synthetic_reviews(20, 6)[0], "", "unseen words"]
    scorer = pickle.loads(pickle.dumps(tfidf_logreg.export(pipeline)))
    want = pipeline.predict_proba(queries)
    got = scorer.predict_proba(queries)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert (got[:, 1] >= 0.5).tolist() == (want[:, 1] >= 0.5).tolist()
