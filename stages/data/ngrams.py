"""Word n-gram counts of a fitted vocabulary, with NumPy.

``NgramIndex`` gives the document-term matrix that scikit-learn's ``CountVectorizer(
token_pattern=r"\\S+", lowercase=False, ngram_range=(1, n))`` gives with the same
``vocabulary_`` (counts, or ``binary``), several times faster: each token becomes an integer
once (one dict lookup), an n-gram becomes the base-``U`` number of its tokens' ids, and all of a
batch's n-grams are looked up at once in a hash table of codes per order (``pandas.Index``).
Tokens are ``str.split()``'s, which is ``re.findall(r"\\S+")`` (both use Python's Unicode
whitespace).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain, repeat

import numpy as np
import pandas as pd
import scipy.sparse as sp

ABSENT = -1  # the id of a word or n-gram outside the vocabulary
DERIVED = ("_ids", "_lookups")  # rebuilt on first use after unpickling, not stored


class NgramIndex:
    """The n-gram vocabulary ``{"w1 w2": column}`` as integer codes per order.

    Args:
        vocabulary: a fitted ``CountVectorizer.vocabulary_``.
        ngram_max: the largest n-gram order in it.

    Raises:
        ValueError: the words are too many for int64 codes of ``ngram_max`` of them.
    """

    def __init__(self, vocabulary: Mapping[str, int], ngram_max: int) -> None:
        grams = [(gram.split(" "), column) for gram, column in vocabulary.items()]
        # Every word of an n-gram gets a token id, in or out of the unigram features (a
        # ``max_features`` vocabulary can keep "not bad" and drop "bad").
        self.tokens = list(dict.fromkeys(word for words, _ in grams for word in words))
        self.n_features = len(vocabulary)
        self.ngram_max = ngram_max
        if len(self.tokens) ** ngram_max >= 2**63:
            raise ValueError(f"{len(self.tokens)} words do not fit {ngram_max}-gram int64 codes")
        ids = self._token_ids()
        by_order: list[tuple[list[int], list[int]]] = [([], []) for _ in range(ngram_max)]
        for words, column in grams:
            code = 0
            for word in words:
                code = code * len(self.tokens) + ids[word]
            by_order[len(words) - 1][0].append(code)
            by_order[len(words) - 1][1].append(column)
        self.codes = [np.asarray(codes, dtype=np.int64) for codes, _ in by_order]
        self.columns = [np.asarray(columns, dtype=np.int64) for _, columns in by_order]

    def _token_ids(self) -> dict[str, int]:
        if "_ids" not in self.__dict__:
            self._ids = {token: i for i, token in enumerate(self.tokens)}
        return self._ids

    def _lookup(self, order: int) -> pd.Index:
        """The hash table of the codes of ``order + 1``-grams (position = index in ``codes``)."""
        if "_lookups" not in self.__dict__:
            self._lookups = [pd.Index(codes) for codes in self.codes]
        return self._lookups[order]

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in DERIVED}

    def transform(self, texts: list[str], *, binary: bool = True) -> sp.csr_matrix:
        """float32 ``[len(texts), n_features]``: how often each text holds each vocabulary
        n-gram, or 1 if it does (``binary``)."""
        rows, columns = self.hits(texts)
        keys = np.sort(rows * self.n_features + columns)
        first = first_of_runs(keys)
        counts = np.ones(len(first)) if binary else np.diff(np.append(first, len(keys)))
        rows, columns = np.divmod(keys[first], self.n_features)
        indptr = np.searchsorted(rows, np.arange(len(texts) + 1))
        return sp.csr_matrix(
            (counts.astype(np.float32), columns.astype(np.int32), indptr),
            shape=(len(texts), self.n_features),
        )

    def hits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """int64 text and column of each occurrence of a vocabulary n-gram (unsorted)."""
        ids, base = self._token_ids(), len(self.tokens)
        words = [text.split() for text in texts]
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        flat = np.fromiter(map(ids.get, chain.from_iterable(words), repeat(ABSENT)),
                           dtype=np.int64, count=int(lengths.sum()))
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        hits_doc, hits_col = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        code, valid = np.zeros(len(flat), dtype=np.int64), np.ones(len(flat), dtype=bool)
        for last in range(min(self.ngram_max, len(flat))):
            # code[i]: the (last + 1)-gram starting at word i; valid: its words are known and
            # in one text.
            span = len(flat) - last
            code = code[:span] * base + flat[last:]
            valid = valid[:span] & (flat[last:] != ABSENT) & (doc[:span] == doc[last:])
            starts = np.flatnonzero(valid)
            found = self._lookup(last).get_indexer(code[starts])
            known = found != ABSENT
            hits_doc.append(doc[starts[known]])
            hits_col.append(self.columns[last][found[known]])
        return np.concatenate(hits_doc), np.concatenate(hits_col)


def first_of_runs(values: np.ndarray) -> np.ndarray:
    """The positions where a run of equal values starts in sorted ``values``: ``values[...]``
    of it is ``np.unique(values)``, which took 10x longer on millions of int64 (NumPy 2.4)."""
    return np.flatnonzero(np.concatenate((values[:1] == values[:1], values[1:] != values[:-1])))
