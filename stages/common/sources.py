"""Typed view of ``stages/sources.yaml``: where each input comes from and how it is verified."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.common.paths import SOURCES_FILE

_SHA256 = re.compile(r"[0-9a-f]{64}")


class SourcesError(ValueError):
    """``sources.yaml`` is missing, malformed, or has an unknown/invalid key."""


@dataclass(frozen=True)
class ImdbSource:
    """The IMDB tarball, verified by per-class review counts and a content fingerprint."""

    url: str
    filename: str
    reviews_per_class: int
    fingerprint: str


@dataclass(frozen=True)
class GloveSource:
    """The GloVe 6B zip; the extracted ``glove.6B.<dim>d.txt`` is verified."""

    url: str
    filename: str
    words: int
    member_sha256: dict[int, str]

    @staticmethod
    def member(dim: int) -> str:
        """Name of the ``dim``-dimensional vectors file inside the zip."""
        return f"glove.6B.{dim}d.txt"


@dataclass(frozen=True)
class TranslateSource:
    """The EN-KO word list, verified by sha256."""

    url: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Sources:
    """The whole of ``sources.yaml``."""

    imdb: ImdbSource
    glove: GloveSource
    translate: TranslateSource


def _check_value(value: Any, tp: Any, key: str) -> None:
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        expected = "a positive integer"
    elif tp is str:
        ok = isinstance(value, str) and bool(value)
        expected = "a non-empty string"
    else:  # dict[int, str]: dimension -> sha256
        ok = isinstance(value, dict) and all(
            isinstance(k, int) and isinstance(v, str) for k, v in value.items()
        )
        expected = "a mapping of integer -> sha256 string"
    if not ok:
        raise SourcesError(f"{key}: must be {expected}, got {value!r}")
    digests = value.values() if isinstance(value, dict) else [value]
    if key.endswith(("sha256", "fingerprint")) and not all(_SHA256.fullmatch(d) for d in digests):
        raise SourcesError(f"{key}: must be 64 lowercase hex digits, got {value!r}")
    if key.endswith(".url") and not value.startswith(("https://", "http://")):
        raise SourcesError(f"{key}: must be an http(s) URL, got {value!r}")


def _section(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``; keys in errors are ``<prefix><key>``."""
    if not isinstance(data, dict):
        raise SourcesError(f"{prefix.rstrip('.') or 'top level'}: must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise SourcesError(f"{prefix}{key}: unknown key (valid keys: {', '.join(names)})")
    values = {}
    for key in names:
        if key not in data:
            raise SourcesError(f"{prefix}{key}: missing key")
        if dataclasses.is_dataclass(hints[key]):
            values[key] = _section(hints[key], data[key], f"{prefix}{key}.")
        else:
            _check_value(data[key], hints[key], f"{prefix}{key}")
            values[key] = data[key]
    return cls(**values)


def parse_sources(raw: Any) -> Sources:
    """Validate an already-loaded YAML document; raise ``SourcesError`` naming the key."""
    return _section(Sources, raw, "")


def load_sources(path: Path = SOURCES_FILE) -> Sources:
    """Read and validate ``sources.yaml``; errors name the file and the key."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise SourcesError(f"sources file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise SourcesError(f"{path}: invalid YAML: {exc}") from exc
    try:
        return parse_sources(raw)
    except SourcesError as exc:
        raise SourcesError(f"{path}: {exc}") from exc
