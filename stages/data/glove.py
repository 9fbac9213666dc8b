"""Facts about the GloVe 6B vectors files shared by the download and embeddings stages."""

from __future__ import annotations

from pathlib import Path

from stages.common.errors import StageError


class GloveFormatError(StageError):
    """A GloVe vectors file is malformed or has another dimension than ``base.glove_dim``."""


def glove_filename(dim: int) -> str:
    """``glove.6B.<dim>d.txt``: the member of the official zip and the file the stages write."""
    return f"glove.6B.{dim}d.txt"


def glove_path(raw_dir: Path, dim: int) -> Path:
    """``<raw_dir>/glove.6B.<dim>d.txt``, as written by ``stages.download glove``."""
    return raw_dir / glove_filename(dim)
