"""The model families: one ``FamilySpec`` per family, the single place that says what a family is.

Training, prediction, params validation and the tests read this table; no other code tests a
family by name or by params class. Adding a family: its params section in params.yaml, its
entries in dvc.yaml (``vars: sentiment``, compare deps, plots), its reference in
stages/references.yaml (read by ``stages.common.references``), a builder module (its params model
and builder) with an entry here, and its own tests; tests/unit/test_registry.py checks that these
name the same families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stages.common import params as params_file
from stages.common.params import Params, ParamsError
from stages.common.paths import PARAMS_FILE
from stages.models import classifiers, nbsvm, seq2seq, tfidf
from stages.models.classifiers import (
    GloveBilstmParams,
    LstmParams,
    TransformerParams,
    TransformerSeedParams,
)
from stages.models.features import Features, text_features, token_features
from stages.models.seq2seq import TranslatorParams
from stages.models.tfidf import TfidfLogregParams

Kind = Literal["keras_sentiment", "sklearn_sentiment", "translator"]
SENTIMENT_KINDS = ("keras_sentiment", "sklearn_sentiment")
# The params.yaml section of each kind of family.
SECTIONS: dict[Kind, str] = {
    "keras_sentiment": "train",
    "sklearn_sentiment": "train",
    "translator": "translate",
}


@dataclass(frozen=True)
class FamilySpec:
    """A model family.

    Attributes:
        kind: how it is trained and used (a Keras or scikit-learn sentiment classifier, or an
            EN->KO translator).
        params: the pydantic model of its ``params.yaml`` section.
        builder: the pure function that builds the untrained model from its params.
        inputs: the prepared data it reads (keys of ``train_classifier.Inputs``), which are
            also its data dependencies in dvc.yaml.
        features: sentiment families: how ``inputs`` become the model's inputs per split.
    """

    kind: Kind
    params: type
    builder: Callable[..., Any]
    inputs: tuple[str, ...]
    features: Callable[[Any, dict[str, Path]], Features] | None = None

    @property
    def section(self) -> str:
        return SECTIONS[self.kind]


FAMILIES: dict[str, FamilySpec] = {
    "transformer_seed": FamilySpec(
        "keras_sentiment", TransformerSeedParams, classifiers.build_transformer_seed,
        ("vectorized",), token_features,
    ),
    "lstm": FamilySpec(
        "keras_sentiment", LstmParams, classifiers.build_lstm, ("vectorized",), token_features
    ),
    "glove_bilstm": FamilySpec(
        "keras_sentiment", GloveBilstmParams, classifiers.build_glove_bilstm,
        ("vectorized", "embeddings"), token_features,
    ),
    "transformer": FamilySpec(
        "keras_sentiment", TransformerParams, classifiers.build_transformer, ("vectorized",),
        token_features,
    ),
    "nbsvm": FamilySpec(
        "keras_sentiment", nbsvm.NbsvmParams, nbsvm.build_nbsvm, ("imdb",), nbsvm.ngram_features
    ),
    "tfidf_logreg": FamilySpec(
        "sklearn_sentiment", TfidfLogregParams, tfidf.build_tfidf_logreg, ("imdb",),
        text_features,
    ),
    "seq2seq": FamilySpec("translator", TranslatorParams, seq2seq.build_seq2seq, ("translate",)),
    "seq2seq_attention": FamilySpec(
        "translator", TranslatorParams, seq2seq.build_seq2seq_attention, ("translate",)
    ),
}


def names(*kinds: Kind) -> list[str]:
    """The families of ``kinds``, in registry order."""
    return [name for name, spec in FAMILIES.items() if spec.kind in kinds]


def sentiment_families() -> list[str]:
    return names(*SENTIMENT_KINDS)


def translator_families() -> list[str]:
    return names("translator")


def spec(family: str) -> FamilySpec:
    """The spec of ``family``; a ``ParamsError`` listing the known families if there is none."""
    if family not in FAMILIES:
        raise ParamsError(f"no model family {family!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[family]


def family_params(params: Params, family: str) -> Any:
    """The validated ``<section>.<family>`` params of ``family`` from ``params.yaml``.

    Raises:
        ParamsError: the family is unknown or not configured.
    """
    model, section = spec(family).params, spec(family).section
    configured = getattr(params, section)
    if family not in configured:
        have = ", ".join(configured) or "none"
        raise ParamsError(f"params: {section}.{family}: no such family (configured: {have})")
    cfg = configured[family]
    if isinstance(cfg, model):
        return cfg
    # Params loaded without the family models (params.load_params) keep the raw mapping.
    return params_file.from_dict(model, cfg, f"{section}.{family}")


def family_models() -> dict[str, dict[str, type]]:
    """params.yaml section -> family -> params model, for ``parse_params``."""
    sections: dict[str, dict[str, type]] = {section: {} for section in SECTIONS.values()}
    for name, family in FAMILIES.items():
        sections[family.section][name] = family.params
    return sections


def parse_params(raw: Any) -> Params:
    """A loaded params.yaml with every family section validated by its params model."""
    return params_file.parse_params(raw, family_models())


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read params.yaml and validate it whole, family sections included."""
    return params_file.load_params(path, family_models())
