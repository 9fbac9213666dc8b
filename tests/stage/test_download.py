"""download stages on tiny fixture mirrors (and a local HTTP server): outputs, digests, failures.

Every failure must leave neither the output nor temp files in the output directory.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tarfile
from pathlib import Path

import pytest

from stages import download
from stages.data.archive import ArchiveError, UnsafeArchiveError
from stages.data.checksums import ChecksumError
from stages.data.fetch import FetchError
from stages.data.sources import GloveSource, ImdbSource, TranslateSource, load_sources
from tests.archive_fixtures import (
    glove_text,
    imdb_reviews,
    readme_fingerprint,
    tar_member,
    truncate,
    write_imdb_tar,
    write_zip,
)
from tests.httpserver import Route, serve

CSV = "\ufeffapple,사과\r\nbook,책\r\n".encode()
UNUSED_URL = "http://127.0.0.1:9/unused"  # never contacted: the tests pass a mirror


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    path = tmp_path / "mirror"
    path.mkdir()
    return path


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return tmp_path / "data" / "raw"


def _assert_nothing_left(out: Path) -> None:
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def _imdb_source(reviews: dict[str, bytes], fingerprint: str | None = None) -> ImdbSource:
    return ImdbSource(url=UNUSED_URL, filename="aclImdb_v1.tar.gz", reviews_per_class=2,
                      fingerprint=fingerprint or readme_fingerprint(reviews))


def _glove_source(digests: dict[int, str]) -> GloveSource:
    return GloveSource(url=UNUSED_URL, filename="glove.6B.zip", words=3, member_sha256=digests)


# IMDB


def test_download_imdb_publishes_verified_archive(mirror, raw):
    reviews = imdb_reviews()
    tar = write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews)
    out = raw / "aclImdb_v1.tar.gz"
    summary = download.download_imdb(_imdb_source(reviews), mirror=mirror, out=out)
    assert out.read_bytes() == tar.read_bytes()
    assert summary == {
        "counts": {"train/pos": 2, "train/neg": 2, "test/pos": 2, "test/neg": 2},
        "fingerprint": readme_fingerprint(reviews),
    }
    assert [p.name for p in raw.iterdir()] == ["aclImdb_v1.tar.gz"]


def test_download_imdb_fingerprint_mismatch(mirror, raw):
    reviews = imdb_reviews()
    write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews)
    out = raw / "aclImdb_v1.tar.gz"
    with pytest.raises(ChecksumError) as info:
        download.download_imdb(_imdb_source(reviews, "0" * 64), mirror=mirror, out=out)
    msg = str(info.value)
    assert f"content fingerprint mismatch: expected {'0' * 64}, " in msg
    assert f"got {readme_fingerprint(reviews)} (fetched from {mirror}/aclImdb_v1.tar.gz)" in msg
    _assert_nothing_left(out)


def test_download_imdb_wrong_count(mirror, raw):
    reviews = imdb_reviews(per_class=3)
    write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews)
    out = raw / "aclImdb_v1.tar.gz"
    with pytest.raises(ArchiveError, match="aclImdb/train/pos has 3 reviews, expected 2"):
        download.download_imdb(_imdb_source(reviews), mirror=mirror, out=out)
    _assert_nothing_left(out)


def test_download_imdb_truncated(mirror, raw):
    reviews = imdb_reviews()
    truncate(write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews))
    out = raw / "aclImdb_v1.tar.gz"
    with pytest.raises(ArchiveError, match=r"aclImdb_v1.tar.gz: truncated or corrupt tar.gz: "
                       r"Compressed file ended .* \(fetched from "):
        download.download_imdb(_imdb_source(reviews), mirror=mirror, out=out)
    _assert_nothing_left(out)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tar_member("aclImdb/../x.txt"), "'..' path component"),
        (tar_member("/tmp/x.txt"), "absolute path"),
        (tar_member("aclImdb/link", tarfile.SYMTYPE, "../../etc/passwd"), "symbolic link"),
        (tar_member("aclImdb/hard", tarfile.LNKTYPE, "aclImdb/README"), "hard link"),
    ],
)
def test_download_imdb_unsafe_member(mirror, raw, member, reason):
    reviews = imdb_reviews()
    write_imdb_tar(mirror / "aclImdb_v1.tar.gz", reviews, extra=(member,))
    out = raw / "aclImdb_v1.tar.gz"
    with pytest.raises(UnsafeArchiveError, match=re.escape(f"{member.name!r}: {reason}")):
        download.download_imdb(_imdb_source(reviews), mirror=mirror, out=out)
    _assert_nothing_left(out)


def test_download_imdb_missing_mirror_file(mirror, raw):
    out = raw / "aclImdb_v1.tar.gz"
    with pytest.raises(FetchError) as info:
        download.download_imdb(_imdb_source(imdb_reviews()), mirror=mirror, out=out)
    assert str(info.value).startswith(
        f"mirror file not found: {mirror / 'aclImdb_v1.tar.gz'} (NLP_DATA_MIRROR={mirror};"
    )
    _assert_nothing_left(out)


# GloVe


def test_download_glove_publishes_member_with_known_digest(mirror, raw):
    text = glove_text(4)
    write_zip(mirror / "glove.6B.zip", {"glove.6B.4d.txt": text, "glove.6B.8d.txt": b"other"})
    out = raw / "glove.6B.4d.txt"
    summary = download.download_glove(_glove_source({4: _sha(text)}), 4, mirror=mirror, out=out)
    assert out.read_bytes() == text
    assert summary == {"member": "glove.6B.4d.txt", "sha256": _sha(text), "verified_by": "sha256"}
    assert [p.name for p in raw.iterdir()] == ["glove.6B.4d.txt"]  # temp zip deleted


def test_download_glove_unknown_digest_checks_structure_and_warns(mirror, raw, caplog):
    text = glove_text(8)
    write_zip(mirror / "glove.6B.zip", {"glove.6B.8d.txt": text})
    out = raw / "glove.6B.8d.txt"
    with caplog.at_level(logging.WARNING, logger="stages.download"):
        summary = download.download_glove(_glove_source({}), 8, mirror=mirror, out=out)
    assert out.read_bytes() == text
    assert summary["verified_by"] == "structure"
    assert "no sha256 recorded for dim 8 in sources.yaml" in caplog.text
    assert _sha(text) in caplog.text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (glove_text(8, words=2), "2 lines, expected 3"),
        (glove_text(8) + b"w9 1 2\n", "line 4: expected a word and 8 numbers, got 3 fields"),
        (glove_text(8).replace(b" 0.1 ", b" x ", 1),
         "line 1: could not convert string to float: 'x'"),
        (glove_text(8).replace(b"w2", b"w\xff"), "line 3: not UTF-8: "),
    ],
)
def test_download_glove_bad_structure(mirror, raw, text, error):
    write_zip(mirror / "glove.6B.zip", {"glove.6B.8d.txt": text})
    out = raw / "glove.6B.8d.txt"
    with pytest.raises(download.GloveFormatError) as info:
        download.download_glove(_glove_source({}), 8, mirror=mirror, out=out)
    assert str(info.value).startswith(f"{out}: {error}")
    _assert_nothing_left(out)


def test_download_glove_sha256_mismatch(mirror, raw):
    text = glove_text(4)
    write_zip(mirror / "glove.6B.zip", {"glove.6B.4d.txt": text})
    out = raw / "glove.6B.4d.txt"
    with pytest.raises(ChecksumError) as info:
        download.download_glove(_glove_source({4: "a" * 64}), 4, mirror=mirror, out=out)
    assert str(info.value) == (
        f"{out}: sha256 mismatch: expected {'a' * 64}, got {_sha(text)} "
        f"(fetched from {mirror / 'glove.6B.zip'})"
    )
    _assert_nothing_left(out)


def test_download_glove_dim_missing_from_zip(mirror, raw):
    write_zip(mirror / "glove.6B.zip", {"glove.6B.50d.txt": glove_text(50)})
    out = raw / "glove.6B.100d.txt"
    with pytest.raises(ArchiveError) as info:
        download.download_glove(_glove_source({}), 100, mirror=mirror, out=out)
    assert str(info.value) == (
        "glove.6B.zip has no member glove.6B.100d.txt (members: glove.6B.50d.txt) "
        f"(fetched from {mirror / 'glove.6B.zip'})"
    )
    _assert_nothing_left(out)


def test_download_glove_truncated_zip(mirror, raw):
    truncate(write_zip(mirror / "glove.6B.zip", {"glove.6B.4d.txt": glove_text(4, 50)}))
    out = raw / "glove.6B.4d.txt"
    with pytest.raises(ArchiveError, match=r"glove.6B.zip: truncated or corrupt zip: "):
        download.download_glove(_glove_source({}), 4, mirror=mirror, out=out)
    _assert_nothing_left(out)


def test_download_glove_symlink_member(mirror, raw):
    write_zip(mirror / "glove.6B.zip", {"glove.6B.4d.txt": b"/etc/passwd"},
              unix_mode=0o120777)
    out = raw / "glove.6B.4d.txt"
    with pytest.raises(UnsafeArchiveError, match="'glove.6B.4d.txt': symbolic link"):
        download.download_glove(_glove_source({}), 4, mirror=mirror, out=out)
    _assert_nothing_left(out)


# translate.csv


def _translate_source(url: str = UNUSED_URL, digest: str = _sha(CSV)) -> TranslateSource:
    return TranslateSource(url=url, filename="translate.csv", sha256=digest)


def test_download_translate_publishes_verified_csv(mirror, raw):
    (mirror / "translate.csv").write_bytes(CSV)
    out = raw / "translate.csv"
    summary = download.download_translate(_translate_source(), mirror=mirror, out=out)
    assert out.read_bytes() == CSV
    assert summary == {"sha256": _sha(CSV), "bytes": len(CSV)}


def test_download_translate_sha256_mismatch(mirror, raw):
    bad = CSV + b"extra,\r\n"
    (mirror / "translate.csv").write_bytes(bad)
    out = raw / "translate.csv"
    with pytest.raises(ChecksumError) as info:
        download.download_translate(_translate_source(), mirror=mirror, out=out)
    assert str(info.value) == (
        f"{out}: sha256 mismatch: expected {_sha(CSV)}, got {_sha(bad)} "
        f"(fetched from {mirror / 'translate.csv'})"
    )
    _assert_nothing_left(out)


def test_download_translate_over_http(raw):
    with serve({"/translate.csv": Route(CSV, content_type="text/csv")}) as server:
        out = raw / "translate.csv"
        source = _translate_source(url=server.url("/translate.csv"))
        download.download_translate(source, mirror=None, out=out)
    assert out.read_bytes() == CSV


def test_download_imdb_body_cut_without_content_length_is_reported_as_truncated(raw, tmp_path):
    # Without Content-Length a dropped connection looks like a complete body to HTTP; the
    # archive check must catch it and say where the file came from.
    reviews = imdb_reviews()
    tar = write_imdb_tar(tmp_path / "aclImdb_v1.tar.gz", reviews).read_bytes()
    route = Route(tar, send_length=False, drop_first=1)
    with serve({"/aclImdb_v1.tar.gz": route}) as server:
        url = server.url("/aclImdb_v1.tar.gz")
        source = ImdbSource(url=url, filename="aclImdb_v1.tar.gz", reviews_per_class=2,
                            fingerprint=readme_fingerprint(reviews))
        out = raw / "aclImdb_v1.tar.gz"
        with pytest.raises(ArchiveError, match=r"aclImdb_v1.tar.gz: truncated or corrupt tar.gz: "
                           rf".* \(fetched from {re.escape(url)}\)$"):
            download.download_imdb(source, mirror=None, out=out)
        _assert_nothing_left(out)
        download.download_imdb(source, mirror=None, out=out)  # the next run gets it whole
    assert out.read_bytes() == tar
    assert [p.name for p in raw.iterdir()] == ["aclImdb_v1.tar.gz"]


def test_main_fails_with_exit_code_1_and_logs(monkeypatch, tmp_path, capsys):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv("NLP_DATA_MIRROR", str(empty))
    monkeypatch.setattr(download, "run", _run_into(tmp_path / "raw"))
    assert download.main(["translate"]) == 1
    err = capsys.readouterr().err
    expected = f"mirror file not found: {empty / 'translate.csv'} "
    assert f"ERROR download_translate: {expected}" in err
    _assert_nothing_left(tmp_path / "raw" / "translate.csv")


def _run_into(raw_dir: Path):
    real_run = download.run

    def run(dataset, params, *, sources, mirror):
        return real_run(dataset, params, sources=sources, mirror=mirror, raw_dir=raw_dir)

    return run


# The real offline mirror


def test_real_mirror_imdb_and_translate_verify(shared_mirror, tmp_path):
    sources = load_sources()
    imdb = download.run("imdb", None, sources=sources, mirror=shared_mirror, raw_dir=tmp_path)
    assert imdb["counts"] == {"train/pos": 12500, "train/neg": 12500, "test/pos": 12500,
                              "test/neg": 12500}
    assert imdb["fingerprint"] == (
        "4b0bfdfe140012ba264b743f2f135941b854bb46af27666f7613982147fe8a1a"
    )
    translate = download.run("translate", None, sources=sources, mirror=shared_mirror,
                             raw_dir=tmp_path)
    assert translate == {"bytes": 1433, "sha256": sources.translate.sha256}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aclImdb_v1.tar.gz", "translate.csv"]


def test_real_mirror_glove_50d_verifies(shared_mirror, tmp_path):
    out = tmp_path / "glove.6B.50d.txt"
    summary = download.download_glove(load_sources().glove, 50, mirror=shared_mirror, out=out)
    assert summary["sha256"] == (
        "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f"
    )
    assert out.stat().st_size == 171_350_079
    assert [p.name for p in tmp_path.iterdir()] == ["glove.6B.50d.txt"]
