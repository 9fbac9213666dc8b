"""A learnable synthetic IMDB in the prepared-data layout, and tiny params for any family.

Each review is random filler words plus a few words that decide its label, so a family that
trains at all lands clearly above chance within a couple of epochs.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from stages.common.params import from_dict
from stages.common.paths import PARAMS_FILE
from stages.data.vectorized import save_split
from stages.families.registry import sentiment_families, spec
from tests.conftest import sqlite_store

POSITIVE = ["great", "superb", "wonderful", "loved"]
NEGATIVE = ["awful", "boring", "terrible", "hated"]
FILLER = [f"w{i}" for i in range(40)]
VOCAB = ["", "[UNK]", *POSITIVE, *NEGATIVE, *FILLER]
SIZES = {"train": 320, "val": 96, "test": 160}
GLOVE_DIM = 8

# Sizes for the synthetic data (and a rate it learns at in 3 epochs), applied to the keys a
# family's params.yaml section has: a new family gets tiny params without an edit here. Tests
# that need a variant (pooling, positions, a frozen warm-up, ...) pass it as an override.
TINY_VALUES: dict[str, Any] = {
    "seed": 7,
    "vocab_size": 40,
    "seq_len": 24,
    "epochs": 3,
    "batch_size": 32,
    "learning_rate": 0.01,
    "lr_schedule": "constant",
    "patience": 2,
    "train_on_val": False,
    "strategy": "default",
    "embed_dim": 8,
    "units": 8,
    "ff_dim": 8,
    "num_heads": 2,
    "key_dim": 4,
    "dropout": 0.0,
    "bigram_buckets": 64,
    "frozen_epochs": 0,
    "min_df": 1,
    "max_len": 64,
    "max_features": None,
    "max_iter": 200,
}


@functools.cache
def _params_file() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))


def tiny_params(family: str, **overrides: Any) -> dict[str, Any]:
    """``family``'s params.yaml section at the sizes of ``TINY_VALUES``, then ``overrides``."""
    section = _params_file()[spec(family).section][family]
    tiny = {key: value for key, value in TINY_VALUES.items() if key in section}
    return {**section, **tiny, **overrides}


def tiny_train(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A ``train:`` section with every sentiment family at tiny size; ``overrides`` by family."""
    return {family: tiny_params(family, **overrides.get(family, {}))
            for family in sentiment_families()}


def tiny_cfg(family: str, **overrides: Any) -> Any:
    """The validated params model of ``family`` at tiny size."""
    family_spec = spec(family)
    data = tiny_params(family, **overrides)
    return from_dict(family_spec.params, data, f"{family_spec.section}.{family}")


def synthetic_reviews(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """``n`` balanced reviews: 6-30 filler words with 1-3 label words mixed in."""
    labels = np.arange(n) % 2
    texts = []
    for label in labels:
        words = list(rng.choice(FILLER, size=rng.integers(6, 30)))
        cues = rng.choice(POSITIVE if label else NEGATIVE, size=rng.integers(1, 4))
        for cue in cues:
            words.insert(int(rng.integers(0, len(words) + 1)), str(cue))
        texts.append(" ".join(words).capitalize() + ".<br />The end!")
    return texts, labels


def write_prepared(root: Path, seed: int = 0) -> Path:
    """Write ``imdb/*.parquet``, ``vectorized/{vocab.tsv,*.npz}`` and ``embeddings.npy``."""
    rng = np.random.default_rng(seed)
    index = {token: i for i, token in enumerate(VOCAB)}
    (root / "imdb").mkdir(parents=True)
    (root / "vectorized").mkdir()
    for split, n in SIZES.items():
        texts, labels = synthetic_reviews(n, rng)
        paths = [f"{split}/{i}.txt" for i in range(n)]
        pd.DataFrame({"text": texts, "label": labels, "path": paths}).to_parquet(
            root / "imdb" / f"{split}.parquet"
        )
        rows = [
            [index.get(w, 1) for w in t.lower().replace(".<br />", " ").strip("!").split()]
            for t in texts
        ]
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        save_split(
            root / "vectorized" / f"{split}.npz",
            ids=np.concatenate(rows),
            offsets=offsets,
            labels=labels,
        )
    lines = [f"{token}\t{0 if i < 2 else 100 - i}" for i, token in enumerate(VOCAB)]
    (root / "vectorized" / "vocab.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    embeddings = rng.normal(size=(len(VOCAB), GLOVE_DIM)).astype(np.float32)
    embeddings[:2] = 0.0
    np.save(root / "embeddings.npy", embeddings)
    return root


class TrainedFamilies:
    """``families`` (family -> params overrides) trained by the stage on the synthetic IMDB,
    each logged to the temporary MLflow store ``uri`` (call ``train_all`` with it set)."""

    def __init__(self, root: Path, families: dict[str, dict[str, Any]]) -> None:
        self.families = families
        self.prepared = write_prepared(root / "prepared")
        self.models = root / "models"
        self.metrics = root / "metrics"
        self.uri = sqlite_store(root / "mlflow.db")
        self.test = pd.read_parquet(self.prepared / "imdb" / "test.parquet")

    def params(self) -> Any:
        """params.yaml with ``train:`` holding exactly the tiny ``families``."""
        from stages.families.registry import parse_params

        raw = dict(_params_file())
        raw["train"] = {f: tiny_params(f, **overrides) for f, overrides in self.families.items()}
        return parse_params(raw)

    def train_all(self) -> None:
        from stages import train_classifier

        params = self.params()
        for family in self.families:
            train_classifier.run(
                params,
                family,
                inputs=train_classifier.Inputs(self.prepared / "vectorized",
                                               self.prepared / "embeddings.npy",
                                               self.prepared / "imdb"),
                outputs=train_classifier.Outputs(self.models, self.metrics,
                                                 self.metrics / "plots"),
            )

    def metrics_of(self, family: str) -> dict:
        return json.loads((self.metrics / f"{family}.json").read_text())

    def record(self, family: str) -> dict[str, str]:
        """``models/<family>/mlflow.json``: the run and logged model of its training."""
        return json.loads((self.models / family / "mlflow.json").read_text())
