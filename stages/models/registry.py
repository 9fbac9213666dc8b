"""The model families: one ``FamilySpec`` per family, the single place that says what a family is.

Training, prediction, params validation and the tests read this table; no other code tests a
family by name or by params class. A spec names its family's module (``stages/families/``) and
its kind's fit loop, and imports each on first use: importing the registry, validating params or
listing the families imports no framework, and a stage imports only its own family's code.

Adding a family: its module in ``stages/families/`` (``Params``, ``build``, ``features``), an
entry here, its params section in params.yaml, its entry in dvc.yaml (``vars``; compare's deps
and the validation-accuracy plot for a sentiment family), its reference in
stages/references.yaml, and its own tests; tests/unit/test_registry.py checks that these name
the same families.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from stages.common import params as params_file
from stages.common.params import Params, ParamsError
from stages.common.paths import PARAMS_FILE

Kind = Literal["keras_sentiment", "sklearn_sentiment", "translator"]
SENTIMENT_KINDS: tuple[Kind, ...] = ("keras_sentiment", "sklearn_sentiment")
# The params.yaml section of each kind of family.
SECTIONS: dict[Kind, str] = {
    "keras_sentiment": "train",
    "sklearn_sentiment": "train",
    "translator": "translate",
}
# The fit loop of each kind: a module with ``train(spec, cfg, data)``.
TRAINERS: dict[Kind, str] = {
    "keras_sentiment": "stages.models.keras.fit",
    "sklearn_sentiment": "stages.models.sklearn_fit",
    "translator": "stages.models.translator_fit",
}


@dataclass(frozen=True)
class FamilySpec:
    """A model family.

    Attributes:
        kind: how it is trained and used (a Keras or scikit-learn sentiment classifier, or an
            EN->KO translator); names its fit loop (``TRAINERS``).
        module: the family's module: ``Params`` (the pydantic model of its ``params.yaml``
            section), the builder, for a sentiment family ``features`` (how ``inputs`` become
            the model's inputs per split), and optionally ``export`` (the trained model as it
            is saved for scoring) and ``FROZEN_LAYER``.
        inputs: the prepared data it reads (keys of ``train_classifier.Inputs``), which are
            also its data dependencies in dvc.yaml.
        builder: the name of the module's pure builder function.
    """

    kind: Kind
    module: str
    inputs: tuple[str, ...]
    builder_name: str = "build"

    @property
    def section(self) -> str:
        return SECTIONS[self.kind]

    def load(self) -> ModuleType:
        """The family's module, imported on first use."""
        return importlib.import_module(self.module)

    @property
    def params(self) -> type:
        return self.load().Params

    @property
    def builder(self) -> Callable[..., Any]:
        return getattr(self.load(), self.builder_name)

    @property
    def features(self) -> Callable[..., Any]:
        return self.load().features

    @property
    def export(self) -> Callable[[Any], Any] | None:
        """What turns the trained model into the one saved for scoring, if not the model."""
        return getattr(self.load(), "export", None)

    @property
    def frozen_layer(self) -> str | None:
        """A pretrained layer the Keras loop keeps frozen for ``frozen_epochs``, if any."""
        return getattr(self.load(), "FROZEN_LAYER", None)

    def trainer(self) -> ModuleType:
        """The fit loop of the family's kind, imported on first use."""
        return importlib.import_module(TRAINERS[self.kind])


def _family(kind: Kind, name: str, *inputs: str, builder: str = "build") -> FamilySpec:
    return FamilySpec(kind, f"stages.families.{name}", inputs, builder)


FAMILIES: dict[str, FamilySpec] = {
    "transformer_seed": _family("keras_sentiment", "transformer_seed", "vectorized"),
    "lstm": _family("keras_sentiment", "lstm", "vectorized"),
    "glove_bilstm": _family("keras_sentiment", "glove_bilstm", "vectorized", "embeddings"),
    "transformer": _family("keras_sentiment", "transformer", "vectorized"),
    "nbsvm": _family("keras_sentiment", "nbsvm", "imdb"),
    "tfidf_logreg": _family("sklearn_sentiment", "tfidf_logreg", "imdb"),
    "seq2seq": _family("translator", "seq2seq", "translate", builder="build_seq2seq"),
    "seq2seq_attention": _family(
        "translator", "seq2seq", "translate", builder="build_seq2seq_attention"
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
    # Params loaded without this family's model (``load_params(families=...)``) keep the mapping.
    return params_file.from_dict(model, cfg, f"{section}.{family}")


def family_models(families: Iterable[str] | None = None) -> dict[str, dict[str, type | None]]:
    """params.yaml section -> family -> params model, for ``parse_params``.

    Every registered family is named, so an unknown one is an error; only ``families`` (default:
    all) get their model, the others stay unvalidated (their modules are not imported).
    """
    wanted = set(FAMILIES if families is None else families)
    sections: dict[str, dict[str, type | None]] = {section: {} for section in SECTIONS.values()}
    for name, family in FAMILIES.items():
        sections[family.section][name] = family.params if name in wanted else None
    return sections


def parse_params(raw: Any, families: Iterable[str] | None = None) -> Params:
    """A loaded params.yaml with the sections of ``families`` (default: all) validated."""
    return params_file.parse_params(raw, family_models(families))


def load_params(path: Path = PARAMS_FILE, families: Iterable[str] | None = None) -> Params:
    """Read params.yaml and validate it, the sections of ``families`` (default: all) included."""
    return params_file.load_params(path, family_models(families))
