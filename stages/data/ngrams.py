"""Word n-gram vocabularies and counts, with NumPy.

``NgramIndex`` learns the vocabulary and gives the document-term matrix that scikit-learn's
``CountVectorizer(token_pattern=r"\\S+", lowercase=False, ngram_range=(1, n))`` learns and gives
(counts, or ``binary``; ``min_df``, ``max_features``), several times faster: each token becomes
an integer once, an n-gram becomes the base-``U`` number of its tokens' ids, n-grams are counted
by sorting those codes, and a batch's n-grams are looked up at once in a hash table of codes per
order (``pandas.Index``). ``NgramCounts`` is that as a scikit-learn transformer.
Tokens are ``str.split()``'s, which is ``re.findall(r"\\S+")`` (both use Python's Unicode
whitespace).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

ABSENT = -1  # the id of a word or n-gram outside the vocabulary
DERIVED = ("_ids", "_lookups")  # rebuilt on first use after unpickling, not stored


class NgramIndex:
    """An n-gram vocabulary (``"w1 w2"`` -> column) as integer codes per order.

    Built by ``fit`` (from texts) or ``from_vocabulary`` (a fitted ``vocabulary_``).

    Args:
        tokens: the words; an n-gram's code is the base-``len(tokens)`` number of their indices.
        codes: per order (unigrams first), the codes of the vocabulary's n-grams.
        columns: per order, the column of each of those n-grams.
        n_features: number of columns.
    """

    def __init__(
        self, tokens: list[str], codes: list[np.ndarray], columns: list[np.ndarray],
        n_features: int,
    ) -> None:
        check_code_range(len(tokens), len(codes))
        self.tokens = tokens
        self.codes = codes
        self.columns = columns
        self.n_features = n_features
        self.ngram_max = len(codes)

    @classmethod
    def from_vocabulary(cls, vocabulary: Mapping[str, int], ngram_max: int) -> NgramIndex:
        """The index of a fitted ``CountVectorizer.vocabulary_`` of n-grams up to ``ngram_max``.

        Raises:
            ValueError: the words are too many for int64 codes of ``ngram_max`` of them.
        """
        grams = [(gram.split(" "), column) for gram, column in vocabulary.items()]
        # Every word of an n-gram gets a token id, in or out of the unigram features (a
        # ``max_features`` vocabulary can keep "not bad" and drop "bad").
        tokens = list(dict.fromkeys(word for words, _ in grams for word in words))
        check_code_range(len(tokens), ngram_max)
        ids = {token: i for i, token in enumerate(tokens)}
        by_order: list[tuple[list[int], list[int]]] = [([], []) for _ in range(ngram_max)]
        for words, column in grams:
            code = 0
            for word in words:
                code = code * len(tokens) + ids[word]
            by_order[len(words) - 1][0].append(code)
            by_order[len(words) - 1][1].append(column)
        return cls(tokens, [np.asarray(c, dtype=np.int64) for c, _ in by_order],
                   [np.asarray(c, dtype=np.int64) for _, c in by_order], len(vocabulary))

    @classmethod
    def fit(
        cls, texts: list[str], *, ngram_max: int, min_df: int = 1,
        max_features: int | None = None, binary: bool = False,
    ) -> tuple[NgramIndex, sp.csr_matrix]:
        """The vocabulary of ``texts`` and their float32 document-term matrix: what
        ``CountVectorizer(token_pattern=r"\\S+", lowercase=False, ngram_range=(1, ngram_max),
        min_df=min_df, max_features=max_features, binary=binary, dtype=np.float32)`` learns and
        ``fit_transform`` returns, column for column (n-grams sorted as strings), and entry for
        entry: its rows list their n-grams in the order the corpus first showed them, so sums
        over a row (a classifier's dot products) round as scikit-learn's do.

        Raises:
            ValueError: no n-gram is in ``min_df`` texts, or the words are too many for int64
                codes of ``ngram_max`` of them.
        """
        words = [text.split() for text in texts]
        count = sum(map(len, words))
        ids, tokens = pd.factorize(np.fromiter(chain.from_iterable(words), object, count))
        check_code_range(len(tokens), ngram_max)
        tokens = tokens.tolist()
        orders = [count_order(*grams, min_df=min_df, binary=binary)
                  for grams in ngram_codes(ids.astype(np.int64), word_docs(words), len(tokens),
                                           ngram_max)]
        kept = [order.codes for order in orders]
        strings = gram_strings(tokens, kept)
        if not strings:
            raise ValueError(f"no n-gram occurs in min_df={min_df} of the {len(texts)} texts")
        column = np.empty(len(strings), np.int64)
        column[sorted(range(len(strings)), key=strings.__getitem__)] = np.arange(len(strings))
        if max_features is not None and len(strings) > max_features:
            # scikit-learn's own selection: the argsort of the negated float32 column sums
            tfs = np.empty(len(strings), np.float32)
            tfs[column] = np.concatenate([order.frequency for order in orders])
            keep = np.zeros(len(strings), dtype=bool)
            keep[(-tfs).argsort()[:max_features]] = True
            column = np.where(keep[column], np.cumsum(keep)[column] - 1, ABSENT)
        bounds = np.cumsum([0, *map(len, kept)])
        columns = [column[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        index = cls(tokens, [c[k != ABSENT] for c, k in zip(kept, columns, strict=True)],
                    [k[k != ABSENT] for k in columns], int(column.max()) + 1)
        # Where scikit-learn's vocabulary dict first got each n-gram: texts in order, and within
        # a text its unigrams, then bigrams, ... each in word order.
        first = np.lexsort(np.concatenate(
            [[o.first_position, np.full(len(o.codes), n), o.first_doc]
             for n, o in enumerate(orders)], axis=1))
        seen = np.empty(index.n_features, np.int64)
        seen_columns = column[first]
        seen_columns = seen_columns[seen_columns != ABSENT]
        seen[seen_columns] = np.arange(len(seen_columns))
        rows = np.concatenate([o.docs for o in orders])
        grams = [o.grams + start for o, start in zip(orders, bounds[:-1], strict=True)]
        cols = column[np.concatenate(grams)]
        present = cols != ABSENT
        return index, index._matrix(rows[present], cols[present], len(texts), binary, seen)

    def vocabulary(self) -> dict[str, int]:
        """``{"w1 w2": column}``, as ``CountVectorizer.vocabulary_``."""
        columns = np.concatenate(self.columns).tolist()
        return dict(zip(gram_strings(self.tokens, self.codes), columns, strict=True))

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
        n-gram, or 1 if it does (``binary``); indices sorted, as ``CountVectorizer.transform``."""
        return self._matrix(*self.hits(texts), len(texts), binary)

    def _matrix(
        self, rows: np.ndarray, columns: np.ndarray, n_rows: int, binary: bool,
        rank: np.ndarray | None = None,
    ) -> sp.csr_matrix:
        """The float32 CSR matrix of n-gram occurrences (row, column), each row's columns in
        increasing ``rank`` (a permutation of the columns; default: the columns themselves)."""
        keys = np.sort(rows * self.n_features + (columns if rank is None else rank[columns]))
        first = first_of_runs(keys)
        counts = np.ones(len(first)) if binary else np.diff(np.append(first, len(keys)))
        rows, columns = np.divmod(keys[first], self.n_features)
        if rank is not None:
            columns = np.argsort(rank)[columns]
        indptr = np.searchsorted(rows, np.arange(n_rows + 1))
        return sp.csr_matrix(
            (counts.astype(np.float32), columns.astype(np.int32), indptr),
            shape=(n_rows, self.n_features),
        )

    def hits(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """int64 text and column of each occurrence of a vocabulary n-gram (unsorted)."""
        ids = self._token_ids()
        words = [text.split() for text in texts]
        flat = np.fromiter(map(ids.get, chain.from_iterable(words), repeat(ABSENT)),
                           dtype=np.int64, count=sum(map(len, words)))
        hits_doc, hits_col = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        grams = ngram_codes(flat, word_docs(words), len(self.tokens), self.ngram_max)
        for order, (doc, _, code) in enumerate(grams):
            found = self._lookup(order).get_indexer(code)
            known = found != ABSENT
            hits_doc.append(doc[known])
            hits_col.append(self.columns[order][found[known]])
        return np.concatenate(hits_doc), np.concatenate(hits_col)


class NgramCounts(TransformerMixin, BaseEstimator):
    """``CountVectorizer(token_pattern=r"\\S+", lowercase=False, dtype=np.float32)`` over
    whitespace-separated words, by ``NgramIndex``: the same vocabulary and matrices.

    Args:
        ngram_max: word n-grams ``1..ngram_max``.
        min_df: n-grams in fewer fitted texts are dropped.
        max_features: keep the most frequent n-grams only (``None``: all).
        binary: 1 for an n-gram a text holds, instead of its count.
    """

    def __init__(
        self, ngram_max: int = 1, min_df: int = 1, max_features: int | None = None,
        binary: bool = False,
    ) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.binary = binary

    def fit(self, texts: list[str], y: Any = None) -> NgramCounts:
        """Learn the vocabulary (``index_``)."""
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: list[str], y: Any = None) -> sp.csr_matrix:
        """Learn the vocabulary and count ``texts`` in one pass."""
        self.index_, counts = NgramIndex.fit(
            list(texts), ngram_max=self.ngram_max, min_df=self.min_df,
            max_features=self.max_features, binary=self.binary,
        )
        return counts

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """float32 ``[len(texts), n_features]`` counts (or 1s) of the vocabulary's n-grams."""
        return self.index_.transform(list(texts), binary=self.binary)


def check_code_range(n_tokens: int, ngram_max: int) -> None:
    """Raise ``ValueError`` unless ``ngram_max``-word codes over ``n_tokens`` fit in int64."""
    if n_tokens**ngram_max >= 2**63:
        raise ValueError(f"{n_tokens} words do not fit {ngram_max}-gram int64 codes")


def word_docs(words: list[list[str]]) -> np.ndarray:
    """The text index of each word of ``words`` (texts' word lists), flattened."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    return np.repeat(np.arange(len(words), dtype=np.int64), lengths)


def ngram_codes(
    flat: np.ndarray, doc: np.ndarray, base: int, ngram_max: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per order (unigrams first), the text, position in ``flat`` and code of every n-gram of
    known words (id not ``ABSENT``) within one text, from the texts' concatenated word ids
    ``flat``."""
    code, valid = np.zeros(len(flat), dtype=np.int64), np.ones(len(flat), dtype=bool)
    for last in range(min(ngram_max, len(flat))):
        # code[i]: the (last + 1)-gram starting at word i
        span = len(flat) - last
        code = code[:span] * base + flat[last:]
        valid = valid[:span] & (flat[last:] != ABSENT) & (doc[:span] == doc[last:])
        starts = np.flatnonzero(valid)
        yield doc[starts], starts, code[starts]


@dataclass
class OrderCounts:
    """The n-grams of one order kept by ``count_order``, and their occurrences."""

    codes: np.ndarray  # the kept n-grams' codes, increasing
    frequency: np.ndarray  # per kept n-gram: texts holding it (binary) or its occurrences
    first_doc: np.ndarray  # per kept n-gram: the first text holding it
    first_position: np.ndarray  # ... and its position there (in the concatenated words)
    docs: np.ndarray  # per occurrence of a kept n-gram: its text
    grams: np.ndarray  # ... and the n-gram (index into ``codes``)


def count_order(
    doc: np.ndarray, position: np.ndarray, code: np.ndarray, *, min_df: int, binary: bool
) -> OrderCounts:
    """The n-grams (codes, in text order) held by at least ``min_df`` texts."""
    # A stable sort keeps each code's occurrences in text order: a new text is a change.
    by_code = np.argsort(code, kind="stable")
    code, doc, position = code[by_code], doc[by_code], position[by_code]
    starts = first_of_runs(code)
    runs = np.diff(np.append(starts, len(code)))
    new_text = np.ones(len(code), dtype=np.int64)
    new_text[1:] = (code[1:] != code[:-1]) | (doc[1:] != doc[:-1])
    df = np.add.reduceat(new_text, starts) if len(code) else runs
    keep = df >= min_df
    occurs = np.repeat(keep, runs)
    first = starts[keep]
    return OrderCounts(code[first], (df if binary else runs)[keep], doc[first], position[first],
                       doc[occurs], np.repeat(np.cumsum(keep) - 1, runs)[occurs])


def gram_strings(tokens: list[str], codes: list[np.ndarray]) -> list[str]:
    """The n-grams ``"w1 w2"`` of codes per order (unigrams first) over ``tokens``."""
    words, base = np.asarray(tokens, dtype=object), len(tokens)
    return [" ".join(gram) for n, order in enumerate(codes, start=1) for gram in zip(
        *(words[(order // base ** (n - 1 - k)) % base] for k in range(n)), strict=True)]


def first_of_runs(values: np.ndarray) -> np.ndarray:
    """The positions where a run of equal values starts in sorted ``values``: ``values[...]``
    of it is ``np.unique(values)``, which took 10x longer on millions of int64 (NumPy 2.4)."""
    return np.flatnonzero(np.concatenate((values[:1] == values[:1], values[1:] != values[:-1])))
