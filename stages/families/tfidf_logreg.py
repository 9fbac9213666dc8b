"""The ``tfidf_logreg`` family: TF-IDF word n-grams + logistic regression (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from stages.common.config import Bool, Int, PosFloat, PosInt, model
from stages.common.params import PosIntOrNull
from stages.data.ngrams import NgramIndex
from stages.data.standardize import TOKEN_PATTERN
from stages.models.features import text_features

features = text_features  # the family's input: the standardized review texts


@model
class Params:
    """TfidfVectorizer (word n-grams) + LogisticRegression on the prepared review texts."""

    seed: Int
    ngram_max: PosInt  # n-grams 1..ngram_max
    min_df: PosInt
    max_features: PosIntOrNull  # null: every n-gram seen in >= min_df training reviews
    sublinear_tf: Bool
    C: PosFloat
    max_iter: PosInt


def build(cfg: Params) -> Pipeline:
    """Unfitted ``Pipeline(tfidf, logreg)`` over standardized texts, P(positive) via
    ``predict_proba``."""
    tfidf = TfidfVectorizer(
        lowercase=False,
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, cfg.ngram_max),
        min_df=cfg.min_df,
        max_features=cfg.max_features,
        sublinear_tf=cfg.sublinear_tf,
        dtype=np.float32,
    )
    logreg = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, random_state=cfg.seed)
    return Pipeline([("tfidf", tfidf), ("logreg", logreg)])


class TfidfScorer:
    """The fitted pipeline with its n-grams counted by an ``NgramIndex`` instead of the
    vectorizer's regex and dict of every n-gram: the same counts, then the vectorizer's own tf-idf
    weighting and the same logistic regression. ``predict_proba`` as scikit-learn's."""

    def __init__(self, pipeline: Pipeline) -> None:
        tfidf = pipeline["tfidf"]
        self.index = NgramIndex(tfidf.vocabulary_, tfidf.ngram_range[1])
        self.weighting = TfidfTransformer(
            norm=tfidf.norm,
            use_idf=tfidf.use_idf,
            smooth_idf=tfidf.smooth_idf,
            sublinear_tf=tfidf.sublinear_tf,
        )
        self.weighting.idf_ = tfidf.idf_
        self.logreg = pipeline["logreg"]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """``[n, 2]``: P(negative), P(positive) per standardized review."""
        counts = self.index.transform(texts, binary=False)
        return self.logreg.predict_proba(self.weighting.transform(counts, copy=False))


def export(pipeline: Pipeline) -> TfidfScorer:
    """The fitted pipeline's ``TfidfScorer``, which is what ``models/tfidf_logreg/`` keeps."""
    return TfidfScorer(pipeline)
