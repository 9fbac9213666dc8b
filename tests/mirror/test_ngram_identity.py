"""The n-gram code of ``nbsvm`` and ``tfidf_logreg`` is scikit-learn's, and nbsvm's NumPy scorer
is its Keras layer, on the 50,000 labeled reviews (params.yaml's ``train.<family>``).

- ``NgramIndex.fit`` is ``CountVectorizer.fit_transform`` on the train split (the vocabulary and
  the matrix, entry for entry), and ``NgramIndex.transform`` is ``CountVectorizer.transform`` on
  every review.
- ``tfidf_logreg``'s pipeline (``NgramCounts`` + ``TfidfTransformer`` + logistic regression) is
  ``TfidfVectorizer`` + the same logistic regression: the same vocabulary and probabilities.
- ``nbsvm.export`` (the ``LinearScorer`` that ``models/nbsvm`` keeps and serving runs without
  TensorFlow) scores the test split as the trained Keras model does: the same labels, the
  probabilities within 1e-6 (float32 sums in another order).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from stages.data.ngrams import NgramIndex
from stages.data.standardize import TOKEN_PATTERN
from stages.families import registry
from stages.models.features import SPLITS, text_features

pytestmark = pytest.mark.mirror

TOLERANCE = 1e-6  # |P(positive)| of the NumPy scorer against the Keras layer


def family_params(family: str):
    return registry.family_params(registry.load_params(), family)


@pytest.fixture(scope="module")
def texts(prepared: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """The n-gram families' input: standardized texts and labels per split."""
    return text_features(None, {"imdb": prepared / "imdb"}).data


@pytest.fixture(scope="module")
def every_review(texts) -> list[str]:
    return [text for split in SPLITS for text in texts[split][0]]


@pytest.fixture(scope="module")
def counted(texts):
    """nbsvm's n-grams of the train split, ``(index, matrix)``, by ``NgramIndex`` and by
    scikit-learn's ``CountVectorizer``."""
    cfg = family_params("nbsvm")
    train = texts["train"][0]
    ours = NgramIndex.fit(train, ngram_max=cfg.ngram_max, min_df=cfg.min_df, binary=True)
    reference = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False,
                                ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df, binary=True,
                                dtype=np.float32)
    return ours, (reference, reference.fit_transform(train))


def differing_rows(x: sp.csr_matrix, y: sp.csr_matrix) -> np.ndarray:
    """The rows where two matrices of one shape differ."""
    return np.flatnonzero(np.diff((x != y).tocsr().indptr))


def test_ngram_index_fit_is_count_vectorizers(counted):
    (index, x), (reference, y) = counted
    assert index.vocabulary() == reference.vocabulary_
    assert x.shape == y.shape and x.dtype == y.dtype
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(x, part), getattr(y, part), err_msg=part)


def test_ngram_index_transform_is_count_vectorizers(counted, every_review):
    (index, _), (reference, _) = counted
    x, y = index.transform(every_review), reference.transform(every_review)
    assert x.shape == y.shape == (50_000, len(reference.vocabulary_))
    assert differing_rows(x, y).tolist() == []


def test_tfidf_logreg_is_tfidf_vectorizer_and_logreg(texts, every_review):
    from stages.families import tfidf_logreg

    cfg = family_params("tfidf_logreg")
    ours = tfidf_logreg.build(cfg).fit(*texts["train"])
    reference = make_pipeline(
        TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False,
                        ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df,
                        max_features=cfg.max_features, sublinear_tf=cfg.sublinear_tf,
                        dtype=np.float32),
        LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, random_state=cfg.seed),
    ).fit(*texts["train"])
    assert ours["counts"].index_.vocabulary() == reference[0].vocabulary_
    p, q = ours.predict_proba(every_review), reference.predict_proba(every_review)
    np.testing.assert_array_equal(p, q)


def test_nbsvm_numpy_scorer_is_its_keras_model(prepared: Path, store: str):
    """One epoch of the stage's own fit loop (it logs to a run), then its export against the
    Keras model."""
    import mlflow

    spec = registry.spec("nbsvm")
    cfg = dataclasses.replace(family_params("nbsvm"), epochs=1, refit=False)
    features = spec.features(cfg, {"imdb": prepared / "imdb"})
    with mlflow.start_run():
        trained = spec.trainer().train(spec, cfg, features)
    x_test, y_test = features.data["test"]
    ours, keras_p = trained.model.predict_proba(x_test)[:, 1], trained.p_test
    assert len(ours) == len(y_test) == 25_000
    np.testing.assert_array_equal(ours >= 0.5, keras_p >= 0.5)
    assert np.abs(ours - keras_p).max() <= TOLERANCE
    assert 0.85 < np.mean((ours >= 0.5) == y_test)  # a trained model, not a constant one
