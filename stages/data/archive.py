"""Safe, streaming reads of the IMDB tarball and the GloVe zip, without extracting to disk.

Every member is checked before use (no absolute paths, no ``..``, no links or devices), and a
truncated or corrupt archive raises ``ArchiveError`` naming the file instead of yielding fewer
members.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import stat
import tarfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from stages.common.errors import StageError
from stages.data.checksums import check_digest

IMDB_ROOT = "aclImdb/"
# The four labeled folders, as paths relative to ``aclImdb/``.
IMDB_CLASSES = ("train/pos", "train/neg", "test/pos", "test/neg")
_REVIEW = re.compile(r"(train|test)/(pos|neg)/[^/]+\.txt")
_CHUNK = 1 << 20


log = logging.getLogger(__name__)

class ArchiveError(StageError):
    """An archive is truncated, corrupt, or lacks the expected content."""


class UnsafeArchiveError(ArchiveError):
    """An archive member could write outside the target or is a link or device."""


def _check_name(archive: Path, name: str) -> None:
    # PureWindowsPath splits on both separators, so "a\..\b" and "C:x" are caught too.
    win = PureWindowsPath(name)
    if name.startswith(("/", "\\")) or win.drive or win.root:
        raise UnsafeArchiveError(f"{archive}: unsafe member {name!r}: absolute path")
    if ".." in win.parts:
        raise UnsafeArchiveError(f"{archive}: unsafe member {name!r}: '..' path component")


def check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Raise ``UnsafeArchiveError`` unless ``member`` is a safely named file or directory."""
    _check_name(archive, member.name)
    if member.issym():
        kind = f"symbolic link to {member.linkname!r}"
    elif member.islnk():
        kind = f"hard link to {member.linkname!r}"
    elif member.isfile() or member.isdir():
        return
    else:
        kind = "device, fifo or other special file"
    raise UnsafeArchiveError(f"{archive}: unsafe member {member.name!r}: {kind}")


def _drain(stream: gzip.GzipFile) -> None:
    # tarfile stops at the end-of-archive blocks and never reads the gzip trailer; reading to
    # EOF makes gzip check the CRC and length, and raise EOFError on a truncated file.
    while stream.read(_CHUNK):
        pass


def iter_imdb_reviews(tar_path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(path relative to aclImdb/, raw bytes)`` for each labeled review, in archive order.

    Reads the archive once, as a stream. Members outside ``aclImdb/{train,test}/{pos,neg}/*.txt``
    (unsup reviews, README, urls files, directories) are skipped after the safety check.

    Raises:
        UnsafeArchiveError: a member has an absolute path, a ``..`` component, or is a link/device.
        ArchiveError: the gzip or tar data is truncated or corrupt.
    """
    tar_path = Path(tar_path)
    log.info("scanning %s", tar_path)
    start, members, reviews = time.perf_counter(), 0, 0
    with open(tar_path, "rb") as raw:
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    for member in tar:
                        check_tar_member(tar_path, member)
                        members += 1
                        rel = member.name.removeprefix(IMDB_ROOT)
                        if member.name.startswith(IMDB_ROOT) and _REVIEW.fullmatch(rel):
                            reviews += 1
                            yield rel, tar.extractfile(member).read()
                _drain(gz)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ArchiveError(f"{tar_path}: truncated or corrupt tar.gz: {exc}") from exc
    log.info("scanned %s: %d members, %d reviews in %.1f s", tar_path.name, members, reviews,
             time.perf_counter() - start)


def imdb_fingerprint(reviews: Iterable[tuple[str, bytes]]) -> str:
    """The mirror README's content fingerprint: sha256 of sorted ``<path>\\t<sha256>\\n`` lines."""
    lines = sorted(
        (path.encode("utf-8"), f"{path}\t{hashlib.sha256(data).hexdigest()}\n".encode())
        for path, data in reviews
    )
    digest = hashlib.sha256()
    for _, line in lines:
        digest.update(line)
    return digest.hexdigest()


@dataclass(frozen=True)
class ImdbCheck:
    """What ``verify_imdb`` found: reviews per class folder and the content fingerprint."""

    counts: dict[str, int]
    fingerprint: str


def verify_imdb(tar_path: Path, *, reviews_per_class: int, fingerprint: str) -> ImdbCheck:
    """Check member safety, ``reviews_per_class`` reviews in each class and the fingerprint.

    Raises:
        UnsafeArchiveError, ArchiveError: see ``iter_imdb_reviews``; also a wrong count or a
            duplicate review path.
        ChecksumError: the fingerprint differs from ``fingerprint``.
    """
    counts: Counter[str] = Counter()
    seen: set[str] = set()

    def tally() -> Iterator[tuple[str, bytes]]:
        for path, data in iter_imdb_reviews(tar_path):
            if path in seen:
                raise ArchiveError(f"{tar_path}: duplicate review member {IMDB_ROOT}{path}")
            seen.add(path)
            counts[path.rsplit("/", 1)[0]] += 1
            yield path, data

    actual = imdb_fingerprint(tally())
    for cls in IMDB_CLASSES:
        if counts[cls] != reviews_per_class:
            raise ArchiveError(
                f"{tar_path}: {IMDB_ROOT}{cls} has {counts[cls]} reviews, "
                f"expected {reviews_per_class}"
            )
    check_digest(tar_path, kind="content fingerprint", expected=fingerprint, actual=actual)
    return ImdbCheck(counts={cls: counts[cls] for cls in IMDB_CLASSES}, fingerprint=actual)


def check_zip_member(archive: Path, info: zipfile.ZipInfo) -> None:
    """Raise ``UnsafeArchiveError`` unless ``info`` is a safely named file or directory."""
    _check_name(archive, info.filename)
    mode = info.external_attr >> 16  # Unix st_mode, 0 when the zip was made elsewhere
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(f"{archive}: unsafe member {info.filename!r}: symbolic link")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafeArchiveError(f"{archive}: unsafe member {info.filename!r}: special file")


def extract_zip_member(zip_path: Path, member: str, dest: Path) -> str:
    """Stream ``member`` of ``zip_path`` into ``dest`` and return the sha256 of its bytes.

    Every member of the archive is safety-checked first. ``dest`` should be a temp path
    (``stages.common.io.atomic_path``): on error it may hold partial data.

    Raises:
        UnsafeArchiveError: a member has an unsafe name or is a symlink/special file.
        ArchiveError: ``member`` is absent (the message lists the members), or the zip is
            truncated, corrupt (CRC) or uses an unsupported compression method.
    """
    zip_path = Path(zip_path)
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            for info in infos:
                check_zip_member(zip_path, info)
            names = [info.filename for info in infos]
            if member not in names:
                raise ArchiveError(
                    f"{zip_path.name} has no member {member} (members: {', '.join(names)})"
                )
            with zf.open(member) as src, open(dest, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"{zip_path}: truncated or corrupt zip: {exc}") from exc
    return digest.hexdigest()
