"""The model families: a family is its module in this package and its section of params.yaml.

A family named ``<name>`` is the module ``stages/families/<name>.py`` (``KIND``, ``INPUTS``,
``REFERENCE``, ``Params``, ``build``, and for a sentiment family ``features``) plus its section
``train.<name>`` (sentiment) or ``translate.<name>`` (translator) in params.yaml, whose order is
the families' order. No other code lists the families: training, prediction, params validation,
``compare`` and the tests ask this module. A family's module is imported on first use, so
listing the families or validating params imports no framework, and a stage imports only its own
family's code. Adding a family: docs/families.md.
"""

from __future__ import annotations

import importlib
import pkgutil
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
# The test confusion counts a sentiment reference may give.
CONFUSION = ("tn", "fp", "fn", "tp")
# Modules of this package that are not families.
NOT_FAMILIES = frozenset({"registry"})


@dataclass(frozen=True)
class Reference:
    """The number a family is compared against: ``accuracy`` (exact match for a translator) as
    ``source`` states it (``anchor``), and optionally the source's test confusion counts."""

    source: str
    anchor: str
    accuracy: float
    confusion: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.accuracy <= 1.0:
            raise ValueError(f"reference accuracy must be in [0, 1], got {self.accuracy}")
        if self.confusion is not None and sorted(self.confusion) != sorted(CONFUSION):
            raise ValueError(f"reference confusion needs exactly {', '.join(CONFUSION)}")


@dataclass(frozen=True)
class FamilySpec:
    """A model family, read from its module ``stages.families.<name>`` on first use.

    The module holds ``KIND`` (how it is trained and used: a Keras or scikit-learn sentiment
    classifier, or an EN->KO translator; names its fit loop, ``TRAINERS``), ``INPUTS`` (the
    prepared data it reads: keys of ``train_classifier.Inputs``, also its data deps in dvc.yaml),
    ``REFERENCE``, ``Params`` (the pydantic model of its params.yaml section), the pure builder
    ``build``, for a sentiment family ``features`` (how ``INPUTS`` become the model's inputs per
    split), and optionally ``export`` (the trained model as saved for scoring) and
    ``FROZEN_LAYER``.
    """

    name: str

    @property
    def module(self) -> str:
        return f"{__package__}.{self.name}"

    def load(self) -> ModuleType:
        """The family's module, imported on first use."""
        return importlib.import_module(self.module)

    @property
    def kind(self) -> Kind:
        return self.load().KIND

    @property
    def section(self) -> str:
        return SECTIONS[self.kind]

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.load().INPUTS)

    @property
    def reference(self) -> Reference:
        return self.load().REFERENCE

    @property
    def params(self) -> type:
        return self.load().Params

    @property
    def builder(self) -> Callable[..., Any]:
        return self.load().build

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


def modules() -> list[str]:
    """The family modules of this package, by file name (none is imported)."""
    here = [Path(__file__).parent]
    return sorted(m.name for m in pkgutil.iter_modules(here)
                  if not m.name.startswith("_") and m.name not in NOT_FAMILIES)


def spec(family: str) -> FamilySpec:
    """The spec of ``family``; a ``ParamsError`` listing the known families if there is none."""
    known = modules()
    if family not in known:
        raise ParamsError(f"no model family {family!r} (known: {', '.join(known)})")
    return FamilySpec(family)


def configured(section: str, path: Path = PARAMS_FILE) -> list[str]:
    """The families of params.yaml's ``section`` (``train`` or ``translate``), in file order."""
    return list(getattr(params_file.load_params(path), section))


def names(*kinds: Kind, path: Path = PARAMS_FILE) -> list[str]:
    """The configured families of ``kinds`` (default: all), sentiment first, in file order."""
    every = configured("train", path) + configured("translate", path)
    return [family for family in every if not kinds or FamilySpec(family).kind in kinds]


def sentiment_families(path: Path = PARAMS_FILE) -> list[str]:
    return configured("train", path)


def translator_families(path: Path = PARAMS_FILE) -> list[str]:
    return configured("translate", path)


def family_params(params: Params, family: str) -> Any:
    """The validated ``<section>.<family>`` params of ``family`` from ``params.yaml``.

    Raises:
        ParamsError: the family is unknown or not configured.
    """
    model, section = spec(family).params, spec(family).section
    configured_here = getattr(params, section)
    if family not in configured_here:
        have = ", ".join(configured_here) or "none"
        raise ParamsError(f"params: {section}.{family}: no such family (configured: {have})")
    cfg = configured_here[family]
    if isinstance(cfg, model):
        return cfg
    # Params loaded without this family's model (``load_params(families=...)``) keep the mapping.
    return params_file.from_dict(model, cfg, f"{section}.{family}")


def family_models(families: Iterable[str] | None = None) -> dict[str, dict[str, type | None]]:
    """params.yaml section -> family -> params model, for ``parse_params``.

    Every family module is named, so a section key that is none is an error; only ``families``
    (default: all) get their model, in their own section only, and the others stay unvalidated
    (their modules are not imported).
    """
    known = modules()
    wanted = set(known if families is None else families)
    sections: dict[str, dict[str, type | None]] = {s: {} for s in SECTIONS.values()}
    for name in known:
        if name in wanted:
            family = FamilySpec(name)
            sections[family.section][name] = family.params
        else:
            for section in sections.values():
                section[name] = None
    return sections


def parse_params(raw: Any, families: Iterable[str] | None = None) -> Params:
    """A loaded params.yaml with the sections of ``families`` (default: all) validated."""
    return params_file.parse_params(raw, family_models(families))


def load_params(path: Path = PARAMS_FILE, families: Iterable[str] | None = None) -> Params:
    """Read and validate params.yaml, the sections of ``families`` (default: all) included."""
    return params_file.load_params(path, family_models(families))
