"""Builders of tiny IMDB-shaped tarballs and GloVe-shaped zips for the download tests."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

CLASSES = ("train/pos", "train/neg", "test/pos", "test/neg")


def imdb_reviews(per_class: int = 2) -> dict[str, bytes]:
    """``{path relative to aclImdb/: bytes}``, ``per_class`` reviews in each labeled folder."""
    reviews = {}
    for cls in CLASSES:
        rating = 9 if cls.endswith("pos") else 2
        for i in range(per_class):
            reviews[f"{cls}/{i}_{rating}.txt"] = f"Review {i} of {cls}.<br />Caf\u00e9!".encode()
    return reviews


def readme_fingerprint(reviews: dict[str, bytes]) -> str:
    """The mirror README's method, written out independently of the code under test."""
    lines = [f"{p}\t{hashlib.sha256(reviews[p]).hexdigest()}\n" for p in sorted(reviews)]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def write_imdb_tar(
    path: Path,
    reviews: dict[str, bytes],
    extra: tuple[tarfile.TarInfo, ...] = (),
) -> Path:
    """Write an aclImdb-shaped .tar.gz: dirs, README, an unsup review, the reviews, ``extra``."""
    others = {"aclImdb/README": b"readme", "aclImdb/train/unsup/0_0.txt": b"unlabeled",
              "aclImdb/train/urls_pos.txt": b"http://x\n"}
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tar_member("aclImdb", tarfile.DIRTYPE))
        for name, data in [*others.items(), *((f"aclImdb/{p}", d) for p, d in reviews.items())]:
            info = tar_member(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def glove_text(dim: int, words: int = 3) -> bytes:
    """``words`` lines of a word and ``dim`` numbers, GloVe's text format."""
    lines = [" ".join([f"w{i}", *(f"{(i + 1) * 0.1 + j:.5g}" for j in range(dim))])
             for i in range(words)]
    return ("\n".join(lines) + "\n").encode()


def write_zip(path: Path, members: dict[str, bytes], *, unix_mode: int | None = None,
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Write a zip of ``members``; ``unix_mode`` sets st_mode bits (e.g. a symlink) on all."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2014, 8, 5, 0, 0, 0))
            info.compress_type = compression
            if unix_mode is not None:
                info.external_attr = unix_mode << 16
            zf.writestr(info, data)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to ``keep`` of its size, as an interrupted transfer would."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
