"""The ``nbsvm`` family: a one-layer neural NBSVM over binarized word n-grams.

The model (Wang & Manning 2012; the embedding-bag form of amaiya/keras-nbsvm) scores a review
as ``sigmoid(b + sum_i r_i * w_i)`` over the distinct n-grams ``i`` present in it, where ``r``
holds the Naive Bayes log-count ratios of the train split (fixed weights) and ``w`` is learned.
``NgramFeatures`` turns standardized texts (``stages.data.standardize.standardize_texts``) into the
model's input: int32 n-gram ids ``[batch, max_len]``, 1-based, 0 = padding. Vocabulary and ratios
come from the train split only, whatever the model is then trained on.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from itertools import compress
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import CountVectorizer

from stages.common.config import PosFloat, PosInt, model
from stages.common.params import KerasFitParams
from stages.data.ngrams import NgramIndex
from stages.data.standardize import TOKEN_PATTERN
from stages.models.features import SPLITS, Features, text_features
from stages.models.textmodel import StandardizingEncoder

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

INPUT_NAME = "ngram_ids"
CHUNK = 5000  # reviews vectorized at a time by ``NgramFeatures.transform``


@model
class Params(KerasFitParams):
    """``train.nbsvm``: binarized n-gram features, NB smoothing, and the shared Keras recipe."""

    ngram_max: PosInt  # word n-grams 1..ngram_max
    min_df: PosInt  # n-grams in fewer training reviews are dropped
    alpha: PosFloat  # additive smoothing of the NB counts
    max_len: PosInt  # n-gram ids per review; beyond it the smallest |r| are dropped


def nb_ratios(x: sp.csr_matrix, labels: np.ndarray, alpha: float) -> np.ndarray:
    """NB log-count ratios ``log((p/|p|_1) / (q/|q|_1))`` of binarized features ``x``.

    Args:
        x: Binarized document-term matrix ``[docs, features]``.
        labels: 0/1 labels of the rows of ``x``.
        alpha: Additive smoothing of the per-class feature counts.

    Returns:
        float32 ``[features]``; positive values lean positive.
    """
    labels = np.asarray(labels)
    p = np.asarray(x[labels == 1].sum(axis=0)).ravel() + alpha
    q = np.asarray(x[labels == 0].sum(axis=0)).ravel() + alpha
    return (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)


def count_ngrams(
    vectorizer: CountVectorizer, texts: list[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The distinct n-grams of each text under ``vectorizer``'s analyzer, as CSR columns.

    Returns:
        The n-grams in order of first occurrence (a column is its position), then the CSR
        ``indices`` (unsorted within a row) and ``indptr`` of ``[len(texts), len(n-grams)]``.
    """
    analyze = vectorizer.build_analyzer()
    columns = _numbering()
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend(set(map(columns.__getitem__, analyze(text))))
        indptr.append(len(indices))
    # A list pickles back from a worker faster than the dict.
    return list(columns), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)


def _numbering() -> defaultdict[str, int]:
    """A dict that numbers a missing key 0, 1, ... on lookup (sklearn's ``_count_vocab`` way)."""
    numbers: defaultdict[str, int] = defaultdict()
    numbers.default_factory = numbers.__len__
    return numbers


class NgramFeatures:
    """Binarized word n-gram ids with NB ratios fitted on the train split; joblib-picklable.

    Args:
        ngram_max: Largest n-gram order.
        min_df: Minimum number of training reviews an n-gram must occur in.
        alpha: NB smoothing.
        max_len: Most ids per review; longer reviews keep their ``max_len`` largest ``|r|``.
    """

    def __init__(self, *, ngram_max: int, min_df: int, alpha: float, max_len: int) -> None:
        self.vectorizer = CountVectorizer(
            binary=True,
            token_pattern=TOKEN_PATTERN,
            lowercase=False,
            ngram_range=(1, ngram_max),
            min_df=min_df,
            dtype=np.float32,
        )
        self.ngram_max = ngram_max
        self.alpha = alpha
        self.max_len = max_len
        self.ratios: np.ndarray | None = None
        self.index: NgramIndex | None = None

    @classmethod
    def from_params(cls, cfg: Params) -> NgramFeatures:
        return cls(
            ngram_max=cfg.ngram_max, min_df=cfg.min_df, alpha=cfg.alpha, max_len=cfg.max_len
        )

    @property
    def vocab_size(self) -> int:
        """Number of n-gram features (ids run 1..vocab_size)."""
        return len(self._fitted()[0])

    def fit(self, texts: list[str], labels: np.ndarray, *, n_jobs: int = 1) -> NgramFeatures:
        """Learn the vocabulary and the NB ratios from the train split's texts and labels."""
        self.fit_transform(texts, labels, n_jobs=n_jobs)
        return self

    def fit_transform(
        self, texts: list[str], labels: np.ndarray, *, n_jobs: int = 1
    ) -> np.ndarray:
        """``fit`` then ``transform`` of the train split, vectorizing it once.

        ``n_jobs > 1`` counts the n-grams of that many chunks in worker processes; vocabulary,
        ratios and ids are those of the single-process ``CountVectorizer.fit_transform``.
        """
        vocabulary, x = self._count_train(texts, n_jobs)
        self.index = NgramIndex(vocabulary, self.ngram_max)
        self.ratios = nb_ratios(x, labels, self.alpha)
        log.info("nbsvm features: %d n-grams from %d reviews", x.shape[1], x.shape[0])
        return self._ids(x)

    def transform(self, texts: list[str], *, n_jobs: int = 1) -> np.ndarray:
        """int32 ids ``[len(texts), max_len]``: each review's by decreasing ``|r|``, 0-padded.

        ``n_jobs > 1`` counts the n-grams of chunks in that many worker processes (the same ids).
        """
        index = self._fitted()[1]
        # Chunks bound the peak memory of the sparse intermediate (the test split is 25k reviews).
        chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
        if n_jobs > 1 and len(chunks) > 1:
            # The workers get the index only, not this object.
            counted = Parallel(n_jobs=min(n_jobs, len(chunks)), return_as="generator")(
                delayed(index.transform)(chunk) for chunk in chunks
            )
        else:
            counted = map(index.transform, chunks)
        parts = [self._ids(x) for x in counted]
        return np.concatenate(parts) if parts else np.zeros((0, self.max_len), np.int32)

    def _count_train(self, texts: list[str], n_jobs: int) -> tuple[dict[str, int], sp.csr_matrix]:
        """``vocabulary_`` and matrix of ``self.vectorizer.fit_transform(texts)``, with the
        n-grams counted in ``n_jobs`` processes (the vectorizer itself stays unfitted)."""
        size = max(1, -(-len(texts) // n_jobs))
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        if len(chunks) > 1:
            counted = Parallel(n_jobs=len(chunks), return_as="generator")(
                delayed(count_ngrams)(self.vectorizer, chunk) for chunk in chunks
            )
        else:
            counted = map(count_ngrams, [self.vectorizer], chunks)
        # Provisional ids: in order of first occurrence over all texts, as sklearn numbers them.
        ids = _numbering()
        indices, indptr = [np.zeros(0, np.int64)], [np.zeros(1, np.int64)]
        for grams, chunk_indices, chunk_indptr in counted:
            to_id = np.fromiter(map(ids.__getitem__, grams), np.int64, len(grams))
            indices.append(to_id[chunk_indices])
            indptr.append(chunk_indptr[1:] + indptr[-1][-1])
        indices, indptr = np.concatenate(indices), np.concatenate(indptr)

        # sklearn's min_df (an int): kept if in at least that many texts; ids then in name order.
        keep = np.bincount(indices, minlength=len(ids)) >= self.vectorizer.min_df
        terms = list(compress(ids, keep.tolist()))
        del ids  # the largest object here: every n-gram of the split
        if not terms:
            raise ValueError("After pruning, no terms remain. Try a lower min_df.")
        rank = np.empty(len(terms), np.int64)
        rank[sorted(range(len(terms)), key=terms.__getitem__)] = np.arange(len(terms))
        vocabulary = dict(zip(terms, rank.tolist(), strict=True))

        column = np.full(len(keep), -1, np.int64)  # provisional id -> feature, -1 if dropped
        column[keep] = rank
        indices = column[indices]
        kept = indices >= 0
        ends = np.concatenate([[0], np.cumsum(kept)])  # kept entries before each position
        x = sp.csr_matrix(
            (np.ones(ends[-1], np.float32), indices[kept], ends[indptr]),
            shape=(len(texts), len(terms)),
        )
        x.sort_indices()
        return vocabulary, x

    def _fitted(self) -> tuple[np.ndarray, NgramIndex]:
        if self.ratios is None or self.index is None:
            raise RuntimeError("NgramFeatures is not fitted: call fit(train_texts, labels)")
        return self.ratios, self.index

    def _ids(self, x: sp.csr_matrix) -> np.ndarray:
        ratios = self._fitted()[0]
        lens = np.diff(x.indptr)
        rows = np.repeat(np.arange(x.shape[0]), lens)
        # Within each row, most informative first (ties by id), so truncation drops the weakest.
        cols = x.indices[np.lexsort((x.indices, -np.abs(ratios[x.indices]), rows))]
        pos = np.arange(x.nnz) - np.repeat(x.indptr[:-1], lens)
        keep = pos < self.max_len
        out = np.zeros((x.shape[0], self.max_len), dtype=np.int32)
        out[rows[keep], pos[keep]] = cols[keep] + 1
        return out


def build(cfg: Params, *, ratios: np.ndarray) -> keras.Model:
    """Uncompiled model ``ngram_ids`` (int32 ``[batch, length]``) -> ``sentiment`` P(positive)
    ``[batch, 1]``; ``ratios`` are the train split's NB ratios (``NgramFeatures.ratios``).

    ``cfg`` has no architecture keys (the model is one linear layer); it keeps the builders'
    common signature.
    """
    import keras
    from keras import layers

    from stages.models.keras.layers import OUTPUT_NAME, NbLogit

    ids = keras.Input(shape=(None,), dtype="int32", name=INPUT_NAME)
    nb = NbLogit(len(ratios), name="nb_logit")
    logit = nb(ids)
    nb.set_ratios(ratios)
    out = layers.Activation("sigmoid", name=OUTPUT_NAME)(logit)
    return keras.Model(ids, out, name="nbsvm")


class LinearScorer:
    """The trained model as NumPy, for scoring without TensorFlow: P(positive) =
    ``sigmoid(b + sum over a review's ids of (r * w)[id])``, in float32 like the Keras layer
    (probabilities equal to its within 1e-6; only the summation order differs).

    Args:
        weights: float32 ``[vocab_size + 1]``, the NB ratios times the learned weights (row 0,
            padding, is 0).
        bias: the learned bias.
    """

    def __init__(self, weights: np.ndarray, bias: float) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.float32(bias)

    def predict_proba(self, ids: np.ndarray) -> np.ndarray:
        """``[n, 2]``: P(negative), P(positive) per row of n-gram ids, as scikit-learn's."""
        logits = self.weights[ids].sum(axis=1, dtype=np.float32) + self.bias
        positive = (1 / (1 + np.exp(-logits))).astype(np.float64)
        return np.stack([1 - positive, positive], axis=1)


def export(model: keras.Model) -> LinearScorer:
    """The trained Keras model's ``LinearScorer``, which is what ``models/nbsvm/`` keeps."""
    nb = model.get_layer("nb_logit")
    r, w, b = (np.asarray(weight) for weight in (nb.r, nb.w, nb.b))
    return LinearScorer(r * w, float(b[0]))


def features(cfg: Params, inputs: dict) -> Features:
    """N-gram ids of every split from the features fitted on the train split (vocabulary and NB
    ratios from train only, even when the model is refitted on train + val)."""
    texts = text_features(cfg, inputs).data
    features = NgramFeatures.from_params(cfg)
    n_jobs = os.cpu_count() or 1
    train = features.fit_transform(*texts["train"], n_jobs=n_jobs)
    data = {"train": (train, texts["train"][1])}
    rest = SPLITS[1:]
    log.info("nbsvm features: transforming %s in %d processes", " and ".join(rest), n_jobs)
    ids = features.transform([t for split in rest for t in texts[split][0]], n_jobs=n_jobs)
    ends = np.cumsum([len(texts[split][1]) for split in rest])[:-1]
    for split, part in zip(rest, np.split(ids, ends), strict=True):
        data[split] = (part, texts[split][1])
    return Features(data, StandardizingEncoder(features), {"ratios": features.ratios})
