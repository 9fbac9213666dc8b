"""Stage ``vectorize``: the train split's vocabulary and every split's token ids.

Inputs:  data/prepared/imdb/{train,val,test}.parquet (columns ``text``, ``label``).
Outputs: data/prepared/vectorized/vocab.tsv (line i = ``token<TAB>count`` of id i; count = its
         occurrences in the train split; id 0 the pad token "", id 1 "[UNK]", then by decreasing
         frequency, ties by decreasing UTF-8 bytes) and {train,val,test}.npz (``ids``
         int32 flat, ``offsets`` int64 n + 1, ``labels`` int8);
         metrics/vectorize.json (vocabulary size, tokens per split, train review lengths,
         share of val/test tokens unknown to the train vocabulary).
Params:  none. The full vocabulary is kept; each model family picks its top-k vocabulary and
         sequence length with ``stages.data.vectorized.load_split``.

Tokens and vocabulary are what Keras' ``TextVectorization`` (``stages.data.text``: the project's
standardization, whitespace split, ``max_tokens=None``) adapts and returns, computed in Python
without TensorFlow: ``standardize.split_tokens``, and Keras' own vocabulary order (its
``IndexLookup`` sorts by count, then by token, descending). ``tests/stage/test_vectorize.py``
checks the stored ids against the Keras layer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params, load_params
from stages.common.paths import METRICS_DIR, PREPARED_DIR
from stages.data.standardize import split_tokens
from stages.data.vectorized import PAD_TOKEN, UNK_ID, UNK_TOKEN, save_split, token_index, tokenize

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# Sequence lengths the model families consider; the metrics say how many reviews each truncates.
LENGTH_THRESHOLDS = (200, 400, 600)


class VectorizeError(StageError):
    """The adapted vocabulary breaks the vocab.tsv contract."""


def read_split(path: Path) -> tuple[list[str], np.ndarray]:
    """Read the texts and int8 labels of a prepared IMDB split."""
    frame = pd.read_parquet(path, columns=["text", "label"])
    return frame["text"].tolist(), frame["label"].to_numpy(dtype=np.int8)


def adapt_vocabulary(train_tokens: list[list[bytes]]) -> list[str]:
    """The pad token, ``[UNK]``, then the train split's tokens by decreasing count, ties by
    decreasing UTF-8 bytes: the order of ``TextVectorization.adapt``."""
    counts = Counter(chain.from_iterable(train_tokens))
    ordered = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return [PAD_TOKEN, UNK_TOKEN, *(token.decode() for token, _ in ordered)]


def vocab_counts(vocab: list[str], train_ids: np.ndarray) -> np.ndarray:
    """Occurrences of each id in the train split, checked against the vocab.tsv contract.

    Raises:
        VectorizeError: a token holds a tab or newline, the pad or ``[UNK]`` id occurs in the
            train split, or the vocabulary is not ordered by decreasing train frequency.
    """
    bad = [token for token in vocab if "\t" in token or "\n" in token]
    if bad:
        raise VectorizeError(f"vocabulary tokens with a tab or newline: {bad[:5]!r}")
    counts = np.bincount(train_ids, minlength=len(vocab)).astype(np.int64)
    if counts[0] or counts[UNK_ID]:
        raise VectorizeError(f"train split produced {counts[0]} pad and {counts[1]} [UNK] ids")
    words = counts[UNK_ID + 1 :]
    if np.any(words < 1) or np.any(np.diff(words) > 0):
        raise VectorizeError("adapted vocabulary is not ordered by decreasing train frequency")
    return counts


def write_vocab(path: Path, vocab: list[str], counts: np.ndarray) -> None:
    """Write ``token<TAB>count`` lines, line i = id i."""
    lines = (f"{token}\t{count}\n" for token, count in zip(vocab, counts.tolist(), strict=True))
    path.write_text("".join(lines), encoding="utf-8")


def split_metrics(name: str, ids: np.ndarray, offsets: np.ndarray) -> dict[str, float]:
    """Token count of a split, its [UNK] share and, for train, review-length statistics."""
    metrics: dict[str, float] = {f"{name}_tokens": int(len(ids))}
    if name != "train":
        metrics[f"{name}_unk_fraction"] = round(float(np.mean(ids == UNK_ID)), 6)
        return metrics
    lengths = np.diff(offsets)
    metrics["train_length_median"] = float(np.median(lengths))
    metrics["train_length_p90"] = float(np.percentile(lengths, 90))
    for threshold in LENGTH_THRESHOLDS:
        share = float(np.mean(lengths > threshold))
        metrics[f"train_frac_longer_than_{threshold}"] = round(share, 6)
    return metrics


def run(
    params: Params,
    *,
    prepared_dir: Path = PREPARED_DIR,
    metrics_dir: Path = METRICS_DIR,
) -> dict[str, float]:
    """Learn the vocabulary on train, tokenize every split, write vocab.tsv, the .npz splits
    and the metrics.

    Args:
        params: validated params (this stage reads none; kept for the common stage signature).
        prepared_dir: holds ``imdb/`` (input) and receives ``vectorized/``.
        metrics_dir: receives ``vectorize.json``.

    Returns:
        The metrics written to ``vectorize.json``.
    """
    splits = {name: read_split(prepared_dir / "imdb" / f"{name}.parquet") for name in SPLITS}
    start = time.perf_counter()
    tokens = {name: split_tokens(texts) for name, (texts, _) in splits.items()}
    vocab = adapt_vocabulary(tokens["train"])
    log.info("vocabulary of %d tokens from train", len(vocab))
    index = token_index(vocab)
    tokenized = {name: tokenize(index, split) for name, split in tokens.items()}
    seconds = time.perf_counter() - start
    log.info("tokenized %d reviews in %.1f s", sum(len(t) for t, _ in splits.values()), seconds)
    counts = vocab_counts(vocab, tokenized["train"][0])
    metrics: dict[str, float] = {"vocab_size": len(vocab)}
    with atomic_path(prepared_dir / "vectorized") as out:
        out.mkdir()
        write_vocab(out / "vocab.tsv", vocab, counts)
        for name, (ids, offsets) in tokenized.items():
            save_split(out / f"{name}.npz", ids=ids, offsets=offsets, labels=splits[name][1])
            metrics.update(split_metrics(name, ids, offsets))
            log.info("%s: %d reviews, %d tokens", name, len(offsets) - 1, len(ids))
    atomic_write_json(metrics_dir / "vectorize.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.vectorize``."""
    return stage_main("vectorize", lambda _: run(load_params()), argv, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
