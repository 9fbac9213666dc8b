"""What a sentiment family is fed (``Features``, built from the prepared data of its inputs) and
what its fit loop returns (``Trained``).

Token-id families read the ``vectorize`` stage's ids and vocabulary (the ``glove_bilstm``-style
families also the GloVe matrix); text families read the prepared review texts, standardized as
the vectorizer standardizes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stages.data.standardize import standardize_texts
from stages.data.vectorized import load_split, read_vocab
from stages.models.textmodel import StandardizingEncoder, TokenIdEncoder

SPLITS = ("train", "val", "test")


@dataclass
class Features:
    """Model inputs and labels per split, the encoder that turns raw reviews into such inputs
    (saved with the model), and what the family's builder needs beyond its params."""

    data: dict[str, tuple[Any, np.ndarray]]
    encoder: Any
    build_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trained:
    """A trained sentiment family: its model (as saved for scoring), test probabilities,
    history and run facts."""

    model: Any
    y_test: np.ndarray
    p_test: np.ndarray
    history: pd.DataFrame
    seconds: float
    facts: dict[str, float]


def token_features(cfg: Any, inputs: Mapping[str, Path]) -> Features:
    """Token ids ``[n, seq_len]`` on the family's top-k vocabulary, padded and truncated as
    ``cfg`` says; the GloVe matrix too when the family reads ``embeddings``."""
    vectorized = inputs["vectorized"]
    vocab = read_vocab(vectorized / "vocab.tsv")
    vocab_size = min(cfg.vocab_size, len(vocab))
    data = {
        split: load_split(
            vectorized / f"{split}.npz",
            vocab_size=vocab_size,
            seq_len=cfg.seq_len,
            padding=cfg.padding,
            truncating=cfg.truncating,
        )
        for split in SPLITS
    }
    kwargs: dict[str, Any] = {"vocab_size": vocab_size}
    if "embeddings" in inputs:
        kwargs["embeddings"] = np.load(inputs["embeddings"])
    encoder = TokenIdEncoder(vocab, vocab_size=vocab_size, seq_len=cfg.seq_len,
                             padding=cfg.padding, truncating=cfg.truncating)
    return Features(data, encoder, kwargs)


def text_features(cfg: Any, inputs: Mapping[str, Path]) -> Features:
    """Standardized review texts (whitespace-separated words) and labels per split."""
    data = {}
    for split in SPLITS:
        frame = pd.read_parquet(inputs["imdb"] / f"{split}.parquet")
        labels = frame["label"].to_numpy(dtype=np.int32)
        data[split] = (standardize_texts(frame["text"].tolist()), labels)
    return Features(data, StandardizingEncoder())
