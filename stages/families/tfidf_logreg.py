"""The ``tfidf_logreg`` family: TF-IDF word n-grams + logistic regression (scikit-learn)."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from stages.common.config import Bool, Int, PosFloat, PosInt, model
from stages.common.params import PosIntOrNull
from stages.data.ngrams import NgramCounts
from stages.families.registry import Reference
from stages.models.features import text_features

KIND = "sklearn_sentiment"
INPUTS = ("imdb",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="scikit-learn TF-IDF uni+bigrams + LogisticRegression (the bar for neural families)",
    anchor="0.89-0.90",
    accuracy=0.89,
)


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
    """Unfitted ``Pipeline(counts, tfidf, logreg)`` over standardized texts, P(positive) via
    ``predict_proba``.

    ``counts`` + ``tfidf`` is scikit-learn's ``TfidfVectorizer(token_pattern=r"\\S+",
    lowercase=False, dtype=np.float32)`` with its n-grams counted by ``NgramCounts``: the same
    vocabulary and matrices, without a regex and a dict entry per n-gram.
    """
    counts = NgramCounts(ngram_max=cfg.ngram_max, min_df=cfg.min_df,
                         max_features=cfg.max_features)
    tfidf = TfidfTransformer(sublinear_tf=cfg.sublinear_tf)
    logreg = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, random_state=cfg.seed)
    return Pipeline([("counts", counts), ("tfidf", tfidf), ("logreg", logreg)])
