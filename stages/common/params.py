"""Typed view of ``params.yaml``: a frozen pydantic dataclass per section, validated before any
stage works; errors name the key: ``params: train.lstm.units: must be > 0, got 0``.

Each family's params model lives in its module (``stages/families/``); ``parse_params`` gets
them from ``stages.families.registry``. The shared base of the neural sentiment families and the
field types several families use are here."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from stages.common import config
from stages.common.config import Bool, Float, Int, PosFloat, PosInt, check, model, require
from stages.common.errors import StageError
from stages.common.paths import PARAMS_FILE

PosIntOrNull = Annotated[Int, check(lambda v: v >= 1, "must be >= 1 or null")] | None
Dropout = Annotated[Float, check(lambda v: 0 <= v < 1, "must be in [0, 1)")]
Buckets = Annotated[Int, Field(ge=0)]  # hashed bigram embeddings added to the tokens' (0: off)


class ParamsError(StageError):
    """``params.yaml`` is missing, malformed, or has an unknown/invalid key."""


@model
class BaseParams:
    """Values shared by several stages."""

    seed: Int
    glove_dim: Annotated[Literal[50, 100, 200, 300], config.EXACT_INT]


@model
class PrepareImdbParams:
    """Validation split carved from the IMDB train set."""

    val_fraction: Annotated[Float, check(lambda v: 0 < v < 1, "must be in (0, 1)")]


@model
class EmbeddingsParams:
    """How rows of words missing from GloVe are initialised."""

    oov: Literal["zero", "random"]


@model
class KerasFitParams:
    """How the Keras loop (``stages/models/keras/fit.py``) trains a sentiment family."""

    seed: Int
    epochs: PosInt
    batch_size: PosInt
    optimizer: Literal["adam", "rmsprop"]
    learning_rate: PosFloat
    lr_schedule: Literal["constant", "cosine"]  # cosine: decays to 0 over each fit phase
    patience: PosIntOrNull  # early stopping on val accuracy, best weights kept; null: final ones
    train_on_val: Bool  # also train on the val split, validate on nothing (needs patience: null)
    # after early stopping on val, retrain from scratch on train + val for the best epoch count
    refit: Bool
    strategy: Literal["default", "mirrored"]  # mirrored: one replica per GPU, else CPU device
    # padded: every batch as long as the inputs; length: training batches of similar-length
    # reviews, cut to their longest (validation, test and serving stay padded)
    batching: Literal["padded", "length"]

    @model_validator(mode="after")
    def _val_split_for_early_stopping(self) -> KerasFitParams:
        ok = not (self.train_on_val and self.patience is not None)
        require(ok, "train_on_val", "early stopping needs the val split: set patience: null")
        ok = not self.refit or (self.patience is not None and not self.train_on_val)
        require(ok, "refit", "needs early stopping on the val split (patience, no train_on_val)")
        return self


@model
class NeuralClassifierParams(KerasFitParams):
    """A token-id family: the vectorize stage's ids, clipped, padded and truncated."""

    vocab_size: Annotated[Int, Field(ge=3)]  # top-k ids of vocab.tsv: pad, [UNK], >= 1 word
    seq_len: PosInt
    padding: Literal["pre", "post"]  # where the zeros go
    truncating: Literal["pre", "post"]  # "pre" drops the start of long reviews, keeps the end


Families = Mapping[str, Mapping[str, type | None]]


@model
class Params:
    """The whole of ``params.yaml``; ``train``/``translate`` map family -> its params model."""

    base: BaseParams
    prepare_imdb: PrepareImdbParams
    embeddings: EmbeddingsParams
    train: dict[str, Any]
    translate: dict[str, Any]


def from_dict(cls: type, data: Any, section: str) -> Any:
    """``data`` as the params model ``cls``; errors name ``params: <section>.<key>``."""
    return config.validate(cls, data, ParamsError, prefix="params", loc=tuple(section.split(".")))


def _families(
    data: dict[str, Any], registry: Mapping[str, type | None], section: str
) -> dict[str, Any]:
    """Each family of ``data`` validated by its model; a family whose model is None stays a
    mapping (validated when a stage of that family asks for it)."""
    for name in (n for n in data if n not in registry):
        valid = ", ".join(registry)
        raise ParamsError(f"params: {section}.{name}: unknown family (valid: {valid})")
    return {
        name: data[name] if registry[name] is None
        else from_dict(registry[name], data[name], f"{section}.{name}")
        for name in data
    }


def parse_params(raw: Any, families: Families | None = None) -> Params:
    """Validate a loaded YAML document.

    Args:
        families: section -> family name -> params model (``stages.families.registry`` has
            them); without it the family sections stay unvalidated mappings, for the stages
            that read none of them.
    """
    params = config.validate(Params, raw, ParamsError, prefix="params", top="section")
    if families is None:
        return params
    sections = {s: _families(getattr(params, s), reg, s) for s, reg in families.items()}
    return dataclasses.replace(params, **sections)


def load_params(path: Path = PARAMS_FILE, families: Families | None = None) -> Params:
    """Read and validate ``params.yaml``; raise ``ParamsError`` naming the file and key."""
    return config.load(path, functools.partial(parse_params, families=families), ParamsError,
                       "params")
