"""One loader for the YAML config files: read, validate with pydantic, fail with one line.

Models are pydantic dataclasses (``frozen``, ``extra="forbid"``), so callers keep
``dataclasses.asdict``/``replace``. Fields use the strict scalars below: pydantic's ``strict``
config would also demand dataclass instances instead of mappings. No coercion: ``"3"``, ``3.0``
and ``true`` are not integers; an integer is accepted where a number is expected (``1`` -> 1.0).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from pydantic.dataclasses import dataclass
from pydantic_core import ErrorDetails, PydanticCustomError

from stages.common.errors import StageError

T = TypeVar("T")
E = TypeVar("E", bound=StageError)

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
PosInt = Annotated[Int, Field(gt=0)]
PosFloat = Annotated[Float, Field(gt=0)]
NonEmptyStr = Annotated[Str, Field(min_length=1)]


@typing.dataclass_transform(frozen_default=True)
def model(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen pydantic dataclass that rejects unknown keys."""
    return dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)


class FieldError(ValueError):
    """Raised by a model validator for one field; the message names ``<section>.<name>``."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def require(cond: bool, name: str, message: str) -> None:
    """In a ``model_validator``: raise ``FieldError`` for field ``name`` unless ``cond``."""
    if not cond:
        raise FieldError(name, message)


def check(predicate: Callable[[Any], object], message: str) -> AfterValidator:
    """An ``Annotated`` validator: ``<key>: <message>, got <value>`` unless ``predicate``."""

    def validate(value: T) -> T:
        if not predicate(value):
            raise ValueError(message)
        return value

    return AfterValidator(validate)


def _exact_int(value: T) -> T:
    if type(value) is not int:
        raise PydanticCustomError("int_type", "not an integer")
    return value


# Put before an integer Literal, which by itself accepts 50.0 for 50.
EXACT_INT = BeforeValidator(_exact_int)

_MESSAGES = {
    "int_type": "must be an integer, got {input!r}",
    "float_type": "must be a number, got {input!r}",
    "bool_type": "must be true or false, got {input!r}",
    "string_type": "must be a string, got {input!r}",
    "string_too_short": "must be a non-empty string, got {input!r}",
    "greater_than": "must be > {gt:g}, got {input!r}",
    "greater_than_equal": "must be >= {ge:g}, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "dataclass_type": "must be a mapping, got {input!r}",
}
_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")


def _type_at(model: type, loc: tuple[Any, ...]) -> Any:
    """The annotation (``Annotated`` stripped) at ``loc`` inside ``model``; ``model`` if empty."""
    tp: Any = model
    for part in loc:
        tp = typing.get_type_hints(tp, include_extras=True)[part]
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _describe(model: type, err: ErrorDetails, top: str) -> tuple[tuple[Any, ...], str]:
    """The location and message of one pydantic error, in this project's wording."""
    loc, kind, ctx = err["loc"], err["type"], err.get("ctx", {})
    noun = top if len(loc) == 1 else "key"
    if kind in _UNKNOWN:
        valid = ", ".join(typing.get_type_hints(_type_at(model, loc[:-1])))
        return loc, f"unknown {noun} (valid {noun}s: {valid})"
    if kind == "missing":
        return loc, f"missing {noun}"
    if kind == "literal_error":
        choices = list(typing.get_args(_type_at(model, loc)))
        return loc, f"must be one of {choices}, got {err['input']!r}"
    if kind == "value_error":
        exc = ctx["error"]
        if isinstance(exc, FieldError):
            return (*loc, exc.name), exc.message
        return loc, f"{exc}, got {err['input']!r}"
    template = _MESSAGES.get(kind)
    message = template.format(input=err["input"], **ctx) if template else err["msg"]
    if loc[-1:] == ("[key]",):  # a bad key of a mapping: name the mapping
        return loc[:-2], f"key {message}"
    return loc, message


def validate(
    model: type[T],
    data: Any,
    error: type[StageError],
    *,
    prefix: str = "",
    loc: tuple[str, ...] = (),
    top: str = "key",
) -> T:
    """``data`` as a ``model``, or ``error("<prefix>: <dotted key>: <message>")``.

    Args:
        model: A pydantic dataclass (or any type pydantic validates).
        data: The parsed YAML at ``loc``.
        error: The ``StageError`` subclass to raise.
        prefix: Names the document, e.g. ``params``; omitted when empty.
        loc: Keys leading to ``data`` in the document, prepended to the failing key.
        top: What a key directly under ``data`` is called, e.g. ``section``.

    Raises:
        StageError: ``error``, for the first unknown key, else the first other problem.
    """
    try:
        return TypeAdapter(model).validate_python(data)
    except PydanticValidationError as exc:
        errors = exc.errors()
        first = next((e for e in errors if e["type"] in _UNKNOWN), errors[0])
        where, message = _describe(model, first, top)
        key = ".".join(map(str, (*loc, *where))) or "top level"
        raise error(": ".join(p for p in (prefix, key, message) if p)) from exc


def load(path: Path, parse: Callable[[Any], T], error: type[E], what: str) -> T:
    """Read the YAML file ``path`` and ``parse`` it; errors are ``error`` naming the file.

    Args:
        path: The YAML file.
        parse: Validates the loaded document, raising ``error``.
        error: The ``StageError`` subclass to raise.
        what: The file's kind in the not-found message, e.g. ``params``.

    Raises:
        StageError: ``error``: the file is missing, not YAML, or invalid.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise error(f"{what} file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from exc
    try:
        return parse(raw)
    except error as exc:
        raise error(f"{path}: {exc}") from exc
