"""The n-gram counting of ``nbsvm`` and ``tfidf_logreg`` against scikit-learn's, and nbsvm's
NumPy scoring against Keras's, on the 50,000 labeled IMDB reviews (``data/prepared/imdb``).

Both families are refitted on the train split from ``params.yaml`` as their stages fit them:

- ``nbsvm``: ``NgramIndex.fit`` against ``CountVectorizer.fit_transform`` on the train split: the
  same vocabulary and the same matrix entry for entry; ``NgramIndex.transform`` against
  ``CountVectorizer.transform`` on every review: identical rows. ``models/nbsvm``'s NumPy scorer
  against the same weights in the Keras layer it was exported from: the same labels, and the
  largest probability difference.
- ``tfidf_logreg``: the family's pipeline (``NgramCounts`` + ``TfidfTransformer`` + logistic
  regression) against scikit-learn's ``TfidfVectorizer`` + the same logistic regression: the
  same labels, and the largest probability difference.

Prints one line per check with the seconds each side took; exits 1 unless every row and label is
identical and every probability within 1e-6. Usage::

    .venv/bin/python bench/ngram_identity.py [--imdb data/prepared/imdb]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.common.logs import setup_logging  # noqa: E402
from stages.data.ngrams import NgramIndex  # noqa: E402
from stages.data.standardize import TOKEN_PATTERN, standardize_texts  # noqa: E402
from stages.families import nbsvm, tfidf_logreg  # noqa: E402
from stages.models.registry import load_params  # noqa: E402
from stages.models.textmodel import SKLEARN_FILE  # noqa: E402

log = logging.getLogger("bench")
TOLERANCE = 1e-6


def timed(func, *args):
    start = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - start


def probabilities_line(what: str, ours: tuple, theirs: tuple) -> bool:
    """One line: labels identical, the largest |P(positive)| difference, seconds of each."""
    (p, seconds), (q, their_seconds) = ours, theirs
    same = int(((p >= 0.5) == (q >= 0.5)).sum())
    gap = float(np.abs(p - q).max())
    print(f"{what}: reviews={len(p)} same_label={same} max_abs_diff={gap:.2e} "
          f"seconds_ours={seconds:.2f} seconds_reference={their_seconds:.2f}")
    return same == len(p) and gap <= TOLERANCE


def reference_counts(ngram_max: int, min_df: int, binary: bool) -> CountVectorizer:
    """scikit-learn's vectorizer that ``NgramIndex`` stands in for."""
    return CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False,
                           ngram_range=(1, ngram_max), min_df=min_df, binary=binary,
                           dtype=np.float32)


def check_nbsvm(cfg, train: tuple, texts: list[str], models: Path) -> bool:
    reference = reference_counts(cfg.ngram_max, cfg.min_df, binary=True)
    (index, x_train), seconds = timed(lambda: NgramIndex.fit(
        train[0], ngram_max=cfg.ngram_max, min_df=cfg.min_df, binary=True))
    y_train, ref_seconds = timed(reference.fit_transform, train[0])
    same_fit = index.vocabulary() == reference.vocabulary_ and all(
        np.array_equal(getattr(x_train, part), getattr(y_train, part))
        for part in ("indptr", "indices", "data"))
    print(f"nbsvm fit: reviews={len(train[0])} features={index.n_features} "
          f"features_reference={len(reference.vocabulary_)} identical={same_fit} "
          f"seconds={seconds:.2f} seconds_reference={ref_seconds:.2f}")
    x, seconds = timed(index.transform, texts)
    y, ref_seconds = timed(reference.transform, texts)
    rows = x.shape[0] - int(np.count_nonzero(np.diff((x != y).tocsr().indptr)))
    print(f"nbsvm n-grams: reviews={len(texts)} identical_rows={rows} seconds={seconds:.2f} "
          f"seconds_reference={ref_seconds:.2f}")

    features = nbsvm.NgramFeatures.from_params(cfg).fit(*train)
    saved = joblib.load(models / "nbsvm" / SKLEARN_FILE)
    ids = features.transform(texts, n_jobs=2)
    model = nbsvm.build(cfg, ratios=saved.weights[1:])
    layer = model.get_layer("nb_logit")
    layer.w.assign(np.ones_like(layer.w))
    layer.b.assign([saved.bias])
    same = probabilities_line(
        "nbsvm probabilities",
        timed(lambda: saved.predict_proba(ids)[:, 1]),
        timed(lambda: model.predict(ids, batch_size=1024, verbose=0)[:, 0].astype(np.float64)),
    )
    return same_fit and x.shape == y.shape and rows == len(texts) and same


def check_tfidf(cfg, train: tuple, texts: list[str]) -> bool:
    pipeline, seconds = timed(lambda: tfidf_logreg.build(cfg).fit(*train))
    reference = make_pipeline(
        TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=False,
                        ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df,
                        max_features=cfg.max_features, sublinear_tf=cfg.sublinear_tf,
                        dtype=np.float32),
        LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, random_state=cfg.seed),
    )
    _, ref_seconds = timed(lambda: reference.fit(*train))
    print(f"tfidf_logreg fit: seconds={seconds:.2f} seconds_reference={ref_seconds:.2f}")
    return probabilities_line(
        "tfidf_logreg probabilities",
        timed(lambda: pipeline.predict_proba(texts)[:, 1]),
        timed(lambda: reference.predict_proba(texts)[:, 1]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imdb", type=Path, default=REPO / "data" / "prepared" / "imdb")
    parser.add_argument("--models", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    setup_logging()
    params = load_params()
    frames = {s: pd.read_parquet(args.imdb / f"{s}.parquet") for s in ("train", "val", "test")}
    train = (standardize_texts(frames["train"]["text"].tolist()),
             frames["train"]["label"].to_numpy())
    texts = standardize_texts([t for f in frames.values() for t in f["text"]])
    log.info("%d reviews, %d in the train split", len(texts), len(train[0]))
    ok = check_nbsvm(params.train["nbsvm"], train, texts, args.models)
    ok = check_tfidf(params.train["tfidf_logreg"], train, texts) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
