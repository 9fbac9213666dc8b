"""Typed, validated view of ``params.yaml``.

``load_params`` rejects unknown or missing keys, wrong types and out-of-range values with an error
that names the key (``train.lstm.units``), before any stage does work.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from stages.common.paths import PARAMS_FILE


class ParamsError(ValueError):
    """``params.yaml`` is missing, malformed, or has an unknown/invalid key."""


class FieldError(ValueError):
    """A field value out of range; ``from_dict`` adds the section, e.g. ``train.lstm.units``."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ParamsError(f"params: {key}: {msg}")


def require(cond: bool, name: str, message: str) -> None:
    """In ``__post_init__``: raise ``FieldError`` for field ``name`` unless ``cond``."""
    if not cond:
        raise FieldError(name, message)


def positive(obj: Any, *names: str) -> None:
    """In ``__post_init__``: raise ``FieldError`` for any of ``names`` that is not > 0."""
    for name in names:
        value = getattr(obj, name)
        require(value > 0, name, f"must be > 0, got {value!r}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int, float, str, bool, Literal, Optional)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        _check(
            value in typing.get_args(tp),
            key,
            f"must be one of {list(typing.get_args(tp))}, got {value!r}",
        )
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, key)
    if tp is bool:
        _check(isinstance(value, bool), key, f"must be true or false, got {value!r}")
    elif tp is int:
        _check(
            isinstance(value, int) and not isinstance(value, bool),
            key,
            f"must be an integer, got {value!r}",
        )
    elif tp is float:
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            key,
            f"must be a number, got {value!r}",
        )
        return float(value)
    elif tp is str:
        _check(isinstance(value, str), key, f"must be a string, got {value!r}")
    return value


def from_dict(cls: type, data: Any, section: str) -> Any:
    """Build dataclass ``cls`` from ``data``; bad keys or values raise ``ParamsError``."""
    _check(isinstance(data, dict), section, f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    _check(
        not unknown,
        f"{section}.{unknown[0]}" if unknown else section,
        f"unknown key (valid keys: {', '.join(names)})",
    )
    missing = [n for n in names if n not in data]
    _check(not missing, f"{section}.{missing[0]}" if missing else section, "missing key")
    values = {n: _coerce(data[n], hints[n], f"{section}.{n}") for n in names}
    try:
        return cls(**values)
    except FieldError as exc:
        raise ParamsError(f"params: {section}.{exc.name}: {exc.message}") from exc


@dataclass(frozen=True)
class BaseParams:
    """Values shared by several stages."""

    seed: int
    glove_dim: Literal[50, 100, 200, 300]


@dataclass(frozen=True)
class PrepareImdbParams:
    """Validation split carved from the IMDB train set."""

    val_fraction: float

    def __post_init__(self) -> None:
        require(
            0.0 < self.val_fraction < 1.0,
            "val_fraction",
            f"must be in (0, 1), got {self.val_fraction}",
        )


@dataclass(frozen=True)
class EmbeddingsParams:
    """How rows of words missing from GloVe are initialised."""

    oov: Literal["zero", "random"]


@dataclass(frozen=True)
class TranslatorParams:
    """A char-level EN->KO translator family (``translate.<family>``)."""

    seed: int
    embedding_dim: int
    units: int
    epochs: int
    batch_size: int
    learning_rate: float

    def __post_init__(self) -> None:
        positive(self, "embedding_dim", "units", "epochs", "batch_size", "learning_rate")


@dataclass(frozen=True)
class NeuralClassifierParams:
    """Fields shared by the neural sentiment families (``train.<family>``)."""

    seed: int
    vocab_size: int  # top-k ids of vocab.tsv, pad and [UNK] included; rarer ids become [UNK]
    seq_len: int
    padding: Literal["pre", "post"]  # where the zeros go
    truncating: Literal["pre", "post"]  # "pre" drops the start of long reviews, keeps the end
    epochs: int
    batch_size: int
    optimizer: Literal["adam", "rmsprop"]
    learning_rate: float
    lr_schedule: Literal["constant", "cosine"]  # cosine: decays to 0 over each fit phase
    patience: int | None  # early stopping on val accuracy, best weights kept; null: final weights
    train_on_val: bool  # also train on the val split, validate on nothing (needs patience: null)
    strategy: Literal["default", "mirrored"]  # mirrored: one replica per GPU, else CPU device

    def __post_init__(self) -> None:
        positive(self, "seq_len", "epochs", "batch_size", "learning_rate")
        vocab = self.vocab_size
        require(vocab >= 3, "vocab_size", f"must be >= 3 (pad, [UNK], a word), got {vocab}")
        patience = self.patience
        ok = patience is None or patience >= 1
        require(ok, "patience", f"must be >= 1 or null, got {patience}")
        require(
            not (self.train_on_val and patience is not None),
            "train_on_val",
            "early stopping needs the val split: set patience: null",
        )


def _check_dropout(value: float) -> None:
    require(0.0 <= value < 1.0, "dropout", f"must be in [0, 1), got {value}")


def _check_buckets(value: int) -> None:
    require(value >= 0, "bigram_buckets", f"must be >= 0 (0: off), got {value}")


@dataclass(frozen=True)
class TransformerSeedParams(NeuralClassifierParams):
    """The seed transformer: token + learned position embedding, one BatchNorm encoder block."""

    embed_dim: int
    num_heads: int
    key_dim: int
    ff_dim: int

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "embed_dim", "num_heads", "key_dim", "ff_dim")


@dataclass(frozen=True)
class LstmParams(NeuralClassifierParams):
    """Embedding -> LSTM -> Dense sigmoid."""

    embed_dim: int
    units: int
    pooling: Literal["last", "max"]  # last LSTM state, or max over all its outputs
    dropout: float
    bigram_buckets: int  # hashed bigram embeddings added to the tokens' (0: unigrams only)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "embed_dim", "units")
        _check_dropout(self.dropout)
        _check_buckets(self.bigram_buckets)


@dataclass(frozen=True)
class GloveBilstmParams(NeuralClassifierParams):
    """GloVe Embedding (data/prepared/embeddings.npy) -> Bidirectional LSTM -> Dense sigmoid."""

    units: int
    pooling: Literal["last", "max"]  # last LSTM states, or max over all outputs
    dropout: float
    frozen_epochs: int  # warm-up epochs with GloVe frozen, then fine-tuned (counted in epochs)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "units")
        _check_dropout(self.dropout)
        frozen = self.frozen_epochs
        ok = 0 <= frozen <= self.epochs
        require(ok, "frozen_epochs", f"must be in [0, epochs], got {frozen}")


@dataclass(frozen=True)
class TransformerParams(NeuralClassifierParams):
    """PositionalEmbedding -> TransformerEncoder (LayerNorm) -> pooling -> Dense sigmoid."""

    embed_dim: int
    num_heads: int
    ff_dim: int
    position: Literal["learned", "sinusoidal", "none"]
    dropout: float
    bigram_buckets: int  # hashed bigram embeddings added to the tokens' (0: unigrams only)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self, "embed_dim", "num_heads", "ff_dim")
        _check_dropout(self.dropout)
        _check_buckets(self.bigram_buckets)
        require(
            self.embed_dim % self.num_heads == 0,
            "embed_dim",
            f"{self.embed_dim} is not a multiple of num_heads={self.num_heads}",
        )


@dataclass(frozen=True)
class TfidfLogregParams:
    """TfidfVectorizer (word n-grams) + LogisticRegression on the prepared review texts."""

    seed: int
    ngram_max: int  # n-grams 1..ngram_max
    min_df: int
    max_features: int | None  # null: every n-gram seen in >= min_df training reviews
    sublinear_tf: bool
    C: float
    max_iter: int

    def __post_init__(self) -> None:
        positive(self, "ngram_max", "min_df", "C", "max_iter")
        top = self.max_features
        require(top is None or top >= 1, "max_features", f"must be >= 1 or null, got {top}")


@dataclass(frozen=True)
class Params:
    """The whole of ``params.yaml``."""

    base: BaseParams
    prepare_imdb: PrepareImdbParams
    embeddings: EmbeddingsParams
    train: dict[str, Any]
    translate: dict[str, Any]


SECTIONS: dict[str, type] = {
    "base": BaseParams,
    "prepare_imdb": PrepareImdbParams,
    "embeddings": EmbeddingsParams,
}

# One dataclass per model family, keyed by the family name used in params.yaml and dvc.yaml.
CLASSIFIER_FAMILIES: dict[str, type] = {
    "transformer_seed": TransformerSeedParams,
    "lstm": LstmParams,
    "glove_bilstm": GloveBilstmParams,
    "transformer": TransformerParams,
    "tfidf_logreg": TfidfLogregParams,
}
TRANSLATOR_FAMILIES: dict[str, type] = {
    "seq2seq": TranslatorParams,
    "seq2seq_attention": TranslatorParams,
}


def _families(data: Any, registry: dict[str, type], section: str) -> dict[str, Any]:
    _check(isinstance(data, dict), section, "must be a mapping of family -> params")
    unknown = sorted(set(data) - set(registry))
    _check(
        not unknown,
        f"{section}.{unknown[0]}" if unknown else section,
        f"unknown family (valid: {', '.join(registry)})",
    )
    return {
        name: from_dict(registry[name], cfg, f"{section}.{name}") for name, cfg in data.items()
    }


def parse_params(raw: Any) -> Params:
    """Validate an already-loaded YAML document."""
    _check(isinstance(raw, dict), "params.yaml", "top level must be a mapping")
    expected = [*SECTIONS, "train", "translate"]
    unknown = sorted(set(raw) - set(expected))
    _check(
        not unknown,
        unknown[0] if unknown else "",
        f"unknown section (valid: {', '.join(expected)})",
    )
    missing = [s for s in expected if s not in raw]
    _check(not missing, missing[0] if missing else "", "missing section")
    sections = {name: from_dict(cls, raw[name], name) for name, cls in SECTIONS.items()}
    return Params(
        **sections,
        train=_families(raw["train"], CLASSIFIER_FAMILIES, "train"),
        translate=_families(raw["translate"], TRANSLATOR_FAMILIES, "translate"),
    )


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``; raise ``ParamsError`` naming the file and key."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ParamsError(f"params file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: invalid YAML: {exc}") from exc
    try:
        return parse_params(raw)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from exc
