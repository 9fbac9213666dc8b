"""The ``tfidf_logreg`` family: TF-IDF word n-grams + logistic regression (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from stages.common.config import Bool, Int, PosFloat, PosInt, model
from stages.common.params import PosIntOrNull
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
