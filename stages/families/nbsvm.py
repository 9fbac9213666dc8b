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
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed

from stages.common.config import PosFloat, PosInt, model
from stages.common.params import KerasFitParams
from stages.data.ngrams import NgramIndex, first_of_runs
from stages.families.registry import Reference
from stages.models.features import SPLITS, Features, text_features
from stages.models.textmodel import StandardizingEncoder

if TYPE_CHECKING:
    import keras

KIND = "keras_sentiment"
INPUTS = ("imdb",)  # the prepared data it reads (its data deps in dvc.yaml)
REFERENCE = Reference(
    source="NBSVM: Wang & Manning 2012, uni+bigrams 0.9122 (sidaw/nbsvm); Mesnil et al. 2015, "
    "uni+bi+trigrams 0.9182-0.9187 (mesnilgr/nbsvm); fastai ml1 lesson 5 NB-LR 1-3-grams 0.9177; "
    "amaiya/keras-nbsvm neural 0.9257 (epochs chosen on test)",
    anchor="0.9182-0.9187 (NBSVM-tri); goal >= 0.920",
    accuracy=0.92,
)

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


class NgramFeatures:
    """Binarized word n-gram ids with NB ratios fitted on the train split; joblib-picklable.

    Args:
        ngram_max: Largest n-gram order.
        min_df: Minimum number of training reviews an n-gram must occur in.
        alpha: NB smoothing.
        max_len: Most ids per review; longer reviews keep their ``max_len`` largest ``|r|``.
    """

    def __init__(self, *, ngram_max: int, min_df: int, alpha: float, max_len: int) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
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

    def fit(self, texts: list[str], labels: np.ndarray) -> NgramFeatures:
        """Learn the vocabulary and the NB ratios from the train split's texts and labels."""
        self.fit_transform(texts, labels)
        return self

    def fit_transform(self, texts: list[str], labels: np.ndarray) -> np.ndarray:
        """``fit`` then ``transform`` of the train split, vectorizing it once."""
        self.index, x = NgramIndex.fit(
            texts, ngram_max=self.ngram_max, min_df=self.min_df, binary=True
        )
        self.ratios = nb_ratios(x, labels, self.alpha)
        self.__dict__.pop("_ranks", None)
        log.info("nbsvm features: %d n-grams from %d reviews", x.shape[1], x.shape[0])
        rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
        return self._ids(rows, x.indices, x.shape[0])

    def transform(self, texts: list[str], *, n_jobs: int = 1) -> np.ndarray:
        """int32 ids ``[len(texts), max_len]``: each review's by decreasing ``|r|``, 0-padded.

        ``n_jobs > 1`` counts the n-grams of chunks in that many worker processes (the same ids).
        """
        index = self._fitted()[1]
        # Chunks bound the peak memory of the intermediate hits (the test split is 25k reviews).
        chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
        if n_jobs > 1 and len(chunks) > 1:
            # The workers get the index only, not this object.
            counted = Parallel(n_jobs=min(n_jobs, len(chunks)), return_as="generator")(
                delayed(index.hits)(chunk) for chunk in chunks
            )
        else:
            counted = map(index.hits, chunks)
        parts = [self._ids(*hits, len(chunk))
                 for hits, chunk in zip(counted, chunks, strict=True)]
        return np.concatenate(parts) if parts else np.zeros((0, self.max_len), np.int32)

    def _fitted(self) -> tuple[np.ndarray, NgramIndex]:
        if self.ratios is None or self.index is None:
            raise RuntimeError("NgramFeatures is not fitted: call fit(train_texts, labels)")
        return self.ratios, self.index

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "_ranks"}

    def _rank(self) -> tuple[np.ndarray, np.ndarray]:
        """Each feature's rank by decreasing ``|r|`` (ties by id), and the features by rank."""
        if "_ranks" not in self.__dict__:  # derived from the ratios, so not pickled
            ratios = self._fitted()[0]
            by_rank = np.lexsort((np.arange(len(ratios)), -np.abs(ratios)))
            rank = np.empty_like(by_rank)
            rank[by_rank] = np.arange(len(ratios))
            self._ranks = rank, by_rank
        return self._ranks

    def _ids(self, rows: np.ndarray, columns: np.ndarray, n_rows: int) -> np.ndarray:
        """The id matrix of n-gram occurrences (row, column), repeats counted once."""
        rank, by_rank = self._rank()
        # Within each row, most informative first (ties by id), so truncation drops the weakest:
        # one sort of distinct (row, rank) keys.
        keys = np.sort(rows.astype(np.int64) * len(rank) + rank[columns])
        keys = keys[first_of_runs(keys)]
        rows, cols = np.divmod(keys, len(rank))
        pos = np.arange(len(keys)) - np.searchsorted(rows, np.arange(n_rows))[rows]
        keep = pos < self.max_len
        out = np.zeros((n_rows, self.max_len), dtype=np.int32)
        out[rows[keep], pos[keep]] = by_rank[cols[keep]] + 1
        return out


def build(cfg: Params, *, ratios: np.ndarray, input_length: int | None) -> keras.Model:
    """Uncompiled model ``ngram_ids`` (int32 ``[batch, length]``) -> ``sentiment`` P(positive)
    ``[batch, 1]``; ``ratios`` are the train split's NB ratios (``NgramFeatures.ratios``).

    ``cfg`` has no architecture keys (the model is one linear layer); it keeps the builders'
    common signature.
    """
    import keras
    from keras import layers

    from stages.models.keras.layers import OUTPUT_NAME, NbLogit

    ids = keras.Input(shape=(input_length,), dtype="int32", name=INPUT_NAME)
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
    data = {"train": (features.fit_transform(*texts["train"]), texts["train"][1])}
    rest, n_jobs = SPLITS[1:], os.cpu_count() or 1
    log.info("nbsvm features: transforming %s in %d processes", " and ".join(rest), n_jobs)
    ids = features.transform([t for split in rest for t in texts[split][0]], n_jobs=n_jobs)
    ends = np.cumsum([len(texts[split][1]) for split in rest])[:-1]
    for split, part in zip(rest, np.split(ids, ends), strict=True):
        data[split] = (part, texts[split][1])
    return Features(data, StandardizingEncoder(features), {"ratios": features.ratios})
