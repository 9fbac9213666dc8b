"""Typed view of ``stages/sources.yaml``: where each input comes from and how it is verified."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from stages.common import config
from stages.common.config import Int, NonEmptyStr, PosInt, Str, check, model
from stages.common.errors import StageError
from stages.common.paths import SOURCES_FILE

_SHA256 = re.compile(r"[0-9a-f]{64}")

_HTTP = ("https://", "http://")
Url = Annotated[Str, check(lambda v: v.startswith(_HTTP), "must be an http(s) URL")]
Sha256 = Annotated[Str, check(_SHA256.fullmatch, "must be 64 lowercase hex digits")]


class SourcesError(StageError):
    """``sources.yaml`` is missing, malformed, or has an unknown/invalid key."""


@model
class ImdbSource:
    """The IMDB tarball, verified by per-class review counts and a content fingerprint."""

    url: Url
    filename: NonEmptyStr
    reviews_per_class: PosInt
    fingerprint: Sha256


@model
class GloveSource:
    """The GloVe 6B zip; the extracted ``glove.6B.<dim>d.txt`` is verified."""

    url: Url
    filename: NonEmptyStr
    words: PosInt
    member_sha256: dict[Int, Sha256]

    @staticmethod
    def member(dim: int) -> str:
        """Name of the ``dim``-dimensional vectors file inside the zip."""
        return f"glove.6B.{dim}d.txt"


@model
class TranslateSource:
    """The EN-KO word list, verified by sha256."""

    url: Url
    filename: NonEmptyStr
    sha256: Sha256


@model
class Sources:
    """The whole of ``sources.yaml``."""

    imdb: ImdbSource
    glove: GloveSource
    translate: TranslateSource


def parse_sources(raw: Any) -> Sources:
    """Validate an already-loaded YAML document; raise ``SourcesError`` naming the key."""
    return config.validate(Sources, raw, SourcesError)


def load_sources(path: Path = SOURCES_FILE) -> Sources:
    """Read and validate ``sources.yaml``; errors name the file and the key."""
    return config.load(path, parse_sources, SourcesError, "sources")
