"""Download stages: fetch one input, verify it, and only then move it into ``data/raw``.

Run as ``python -m stages.download {imdb,glove,translate}``.

Inputs: ``stages/sources.yaml`` (URLs, mirror file names, checksums); ``$NLP_DATA_MIRROR``, an
optional offline mirror directory searched by the official file name.
Outputs: ``data/raw/aclImdb_v1.tar.gz`` (verified, not extracted),
``data/raw/glove.6B.<base.glove_dim>d.txt``, ``data/raw/translate.csv``.
Params: ``base.glove_dim`` (glove only).

Downloads land in a hidden scratch directory beside the output, removed on exit; a failed
verification therefore leaves neither the output nor temp files behind (a SIGKILL leaves the
git-ignored scratch directory, which the next run removes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from stages.common.cli import stage_main
from stages.common.io import OutputError, atomic_path, make_temp_dir, output_error
from stages.common.params import Params, load_params
from stages.common.paths import RAW_DIR
from stages.data.archive import ArchiveError, extract_zip_member, verify_imdb
from stages.data.checksums import ChecksumError, check_digest, sha256_file
from stages.data.fetch import fetch, mirror_from_env
from stages.data.glove import GloveFormatError
from stages.data.sources import (
    GloveSource,
    ImdbSource,
    Sources,
    TranslateSource,
    load_sources,
)

IMDB_FILE = "aclImdb_v1.tar.gz"
TRANSLATE_FILE = "translate.csv"
DATASETS = ("imdb", "glove", "translate")

log = logging.getLogger(__name__)


def glove_file(dim: int) -> str:
    """File name of the ``dim``-dimensional GloVe 6B vectors (in the zip and in data/raw)."""
    return GloveSource.member(dim)


@contextlib.contextmanager
def _scratch(out: Path) -> Iterator[Path]:
    """A temp directory beside ``out`` (same file system, git-ignored name), removed on exit.

    A killed download leaves it behind; the next download of ``out`` removes it.
    """
    scratch = make_temp_dir(out, tag="download-")
    try:
        yield scratch
    except OutputError as exc:
        if isinstance(exc.__cause__, OSError):  # name the output, not a file in the scratch
            raise output_error(out, exc.__cause__) from exc.__cause__
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _origin(url: str, filename: str, mirror: Path | None) -> Iterator[None]:
    """Append where the file came from to verification errors."""
    origin = Path(mirror) / filename if mirror is not None else url
    try:
        yield
    except (ArchiveError, ChecksumError, GloveFormatError) as exc:
        raise type(exc)(f"{exc} (fetched from {origin})") from exc


def download_imdb(
    source: ImdbSource, *, mirror: Path | None, out: Path = RAW_DIR / IMDB_FILE
) -> dict:
    """Fetch the IMDB tarball, check members, per-class counts and fingerprint, then publish.

    Returns:
        ``{"counts": {"train/pos": n, ...}, "fingerprint": hex}``.
    """
    with _scratch(out) as scratch:
        fetched = fetch(source.url, source.filename, scratch / source.filename, mirror=mirror)
        with _origin(source.url, source.filename, mirror):
            check = verify_imdb(
                fetched,
                reviews_per_class=source.reviews_per_class,
                fingerprint=source.fingerprint,
            )
        with atomic_path(out) as tmp:
            os.replace(fetched, tmp)
    log.info("%s: reviews per class %s; content fingerprint %s", out, check.counts,
             check.fingerprint)
    return {"counts": check.counts, "fingerprint": check.fingerprint}


def _check_glove_line(raw: bytes, *, dim: int, where: str) -> None:
    try:
        fields = raw.decode("utf-8").rstrip("\n").split(" ")
    except UnicodeDecodeError as exc:
        raise GloveFormatError(f"{where}: not UTF-8: {exc}") from exc
    if len(fields) != dim + 1:
        raise GloveFormatError(
            f"{where}: expected a word and {dim} numbers, got {len(fields)} fields"
        )
    try:
        _ = [float(x) for x in fields[1:]]
    except ValueError as exc:
        raise GloveFormatError(f"{where}: {exc}") from exc


def check_glove_structure(path: Path, *, dim: int, words: int, name: str) -> None:
    """Raise ``GloveFormatError`` unless ``path`` has ``words`` lines of a word and ``dim`` floats.

    Args:
        path: the extracted vectors file.
        dim: numbers expected after the word on each line.
        words: expected number of lines.
        name: how the file is named in error messages.
    """
    count = 0
    with open(path, "rb") as fh:
        for count, raw in enumerate(fh, 1):
            _check_glove_line(raw, dim=dim, where=f"{name}: line {count}")
    if count != words:
        raise GloveFormatError(f"{name}: {count} lines, expected {words}")


def download_glove(
    source: GloveSource, dim: int, *, mirror: Path | None, out: Path | None = None
) -> dict:
    """Fetch the GloVe zip, extract ``glove.6B.<dim>d.txt``, verify it, then publish.

    The member's sha256 is checked when ``source.member_sha256`` records one for ``dim``;
    otherwise its structure is checked and the computed digest is logged as a warning.

    Returns:
        ``{"member": name, "sha256": hex, "verified_by": "sha256" | "structure"}``.
    """
    out = out or RAW_DIR / glove_file(dim)
    member = source.member(dim)
    expected = source.member_sha256.get(dim)
    with _scratch(out) as scratch, _origin(source.url, source.filename, mirror):
        zip_path = fetch(source.url, source.filename, scratch / source.filename, mirror=mirror)
        with atomic_path(out) as tmp:
            digest = extract_zip_member(zip_path, member, tmp)
            zip_path.unlink()  # the official zip is 822 MB: free it before the rename
            if expected is not None:
                check_digest(out, kind="sha256", expected=expected, actual=digest)
            else:
                check_glove_structure(tmp, dim=dim, words=source.words, name=str(out))
                log.warning(
                    "%s: no sha256 recorded for dim %d in sources.yaml; checked its structure "
                    "only (%d lines of %d numbers); sha256 %s",
                    out, dim, source.words, dim, digest,
                )
    log.info("%s: sha256 %s", out, digest)
    return {
        "member": member,
        "sha256": digest,
        "verified_by": "sha256" if expected is not None else "structure",
    }


def download_translate(
    source: TranslateSource, *, mirror: Path | None, out: Path = RAW_DIR / TRANSLATE_FILE
) -> dict:
    """Fetch translate.csv, verify its sha256, then publish.

    Returns:
        ``{"sha256": hex, "bytes": size}``.
    """
    with _scratch(out) as scratch:
        fetched = fetch(source.url, source.filename, scratch / source.filename, mirror=mirror)
        digest = sha256_file(fetched)
        with _origin(source.url, source.filename, mirror):
            check_digest(out, kind="sha256", expected=source.sha256, actual=digest)
        size = fetched.stat().st_size
        with atomic_path(out) as tmp:
            os.replace(fetched, tmp)
    log.info("%s: %d bytes, sha256 %s", out, size, digest)
    return {"sha256": digest, "bytes": size}


def run(
    dataset: str, params: Params | None, *, sources: Sources, mirror: Path | None,
    raw_dir: Path = RAW_DIR,
) -> dict:
    """Download and verify ``dataset`` (one of ``DATASETS``) into ``raw_dir``.

    Args:
        dataset: ``imdb``, ``glove`` or ``translate``.
        params: needed for ``glove`` only (``base.glove_dim``); the other stages declare no params.
        sources: where each input comes from and its checksums.
        mirror: offline mirror directory, or None to download from the official URLs.
        raw_dir: output directory.

    Returns:
        The dataset's summary (counts/digests), also logged.
    """
    if dataset == "imdb":
        return download_imdb(sources.imdb, mirror=mirror, out=raw_dir / IMDB_FILE)
    if dataset == "glove":
        if params is None:
            raise ValueError("download glove needs params (base.glove_dim)")
        dim = params.base.glove_dim
        return download_glove(sources.glove, dim, mirror=mirror, out=raw_dir / glove_file(dim))
    if dataset == "translate":
        return download_translate(sources.translate, mirror=mirror, out=raw_dir / TRANSLATE_FILE)
    raise ValueError(f"unknown dataset {dataset!r} (valid: {', '.join(DATASETS)})")


def _run(args: argparse.Namespace) -> None:
    mirror = mirror_from_env()
    log.info("%s: source %s", args.dataset, f"mirror {mirror}" if mirror else "official URL")
    params = load_params() if args.dataset == "glove" else None
    run(args.dataset, params, sources=load_sources(), mirror=mirror)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``download_<dataset>`` stages."""
    return stage_main("download_{dataset}", _run, argv, doc=__doc__, arguments=lambda parser: (
        parser.add_argument("dataset", choices=DATASETS)))


if __name__ == "__main__":
    raise SystemExit(main())
