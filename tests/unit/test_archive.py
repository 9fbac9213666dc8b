"""archive: IMDB reviews, member safety, fingerprint and count checks, GloVe zip extraction."""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
import tarfile
import zipfile

import pytest

from stages.data.archive import (
    ArchiveError,
    UnsafeArchiveError,
    extract_zip_member,
    imdb_fingerprint,
    iter_imdb_reviews,
    verify_imdb,
)
from stages.data.checksums import ChecksumError
from tests.archive_fixtures import (
    glove_text,
    imdb_reviews,
    readme_fingerprint,
    tar_member,
    truncate,
    write_imdb_tar,
    write_zip,
)


@pytest.fixture
def reviews():
    return imdb_reviews(per_class=2)


def test_iter_imdb_reviews_yields_labeled_reviews_only(tmp_path, reviews):
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews)
    got = dict(iter_imdb_reviews(tar))
    assert got == reviews  # README, unsup and urls files skipped; paths relative to aclImdb/
    assert sorted(got) == [
        "test/neg/0_2.txt", "test/neg/1_2.txt", "test/pos/0_9.txt", "test/pos/1_9.txt",
        "train/neg/0_2.txt", "train/neg/1_2.txt", "train/pos/0_9.txt", "train/pos/1_9.txt",
    ]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (tar_member("aclImdb/../../evil.txt"), "'..' path component"),
        (tar_member("/etc/evil.txt"), "absolute path"),
        (tar_member("aclImdb/train/pos/9_9.txt", tarfile.SYMTYPE, "/etc/passwd"),
         "symbolic link to '/etc/passwd'"),
        (tar_member("aclImdb/train/pos/9_9.txt", tarfile.LNKTYPE, "aclImdb/README"),
         "hard link to 'aclImdb/README'"),
        (tar_member("aclImdb/dev", tarfile.CHRTYPE), "device, fifo or other special file"),
    ],
)
def test_iter_imdb_reviews_rejects_unsafe_member(tmp_path, reviews, member, reason):
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews, extra=(member,))
    with pytest.raises(UnsafeArchiveError) as info:
        list(iter_imdb_reviews(tar))
    assert str(info.value) == f"{tar}: unsafe member {member.name!r}: {reason}"


def test_iter_imdb_reviews_truncated_gzip(tmp_path, reviews):
    tar = truncate(write_imdb_tar(tmp_path / "a.tar.gz", reviews))
    with pytest.raises(ArchiveError, match=rf"^{re.escape(str(tar))}: truncated or corrupt tar"):
        list(iter_imdb_reviews(tar))


def test_iter_imdb_reviews_corrupt_gzip_trailer(tmp_path, reviews):
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews)
    data = bytearray(tar.read_bytes())
    data[-8] ^= 0xFF  # CRC32 of the gzip trailer: only detected by reading to the very end
    tar.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"truncated or corrupt tar.gz: CRC check failed"):
        list(iter_imdb_reviews(tar))


def test_iter_imdb_reviews_not_gzip(tmp_path):
    bad = tmp_path / "a.tar.gz"
    bad.write_bytes(b"<html>not an archive</html>")
    with pytest.raises(ArchiveError, match=rf"^{re.escape(str(bad))}: truncated or corrupt tar"):
        list(iter_imdb_reviews(bad))


# The mirror README's fingerprint command (../shared/datasets/README.md), run in aclImdb/.
README_COMMAND = (
    "find train/pos train/neg test/pos test/neg -type f -name '*.txt' -print0 "
    "| LC_ALL=C sort -z | xargs -0 sha256sum | awk '{printf \"%s\\t%s\\n\", $2, $1}' | sha256sum"
)


def test_imdb_fingerprint_follows_readme_method(tmp_path, reviews):
    # Names whose byte order differs from their numeric order ("10_9" < "1_9"), an empty and
    # a non-ASCII review, and a dict order that is not the sorted one.
    reviews |= {"train/pos/10_9.txt": b"", "train/pos/1_9.txt": "Caf\u00e9 \u2603".encode()}
    for path, data in reviews.items():
        (tmp_path / "aclImdb" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "aclImdb" / path).write_bytes(data)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", README_COMMAND],
                          cwd=tmp_path / "aclImdb", capture_output=True, text=True, check=True)
    by_readme = proc.stdout.split()[0]
    assert imdb_fingerprint(reviews.items()) == by_readme
    assert imdb_fingerprint(reversed(list(reviews.items()))) == by_readme  # order-free
    assert readme_fingerprint(reviews) == by_readme  # the fixture the other tests trust
    reviews["train/pos/10_9.txt"] = b"\n"
    assert imdb_fingerprint(reviews.items()) != by_readme


def test_imdb_fingerprint_of_two_reviews_written_out():
    # sha256("a") and sha256("b") are the standard test vectors; test/ sorts before train/.
    lines = (
        "test/neg/0_2.txt\t3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d\n"
        "train/pos/0_9.txt\tca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\n"
    )
    expected = hashlib.sha256(lines.encode()).hexdigest()
    assert imdb_fingerprint([("train/pos/0_9.txt", b"a"), ("test/neg/0_2.txt", b"b")]) == expected


def test_verify_imdb_accepts_matching_archive(tmp_path, reviews):
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews)
    check = verify_imdb(tar, reviews_per_class=2, fingerprint=readme_fingerprint(reviews))
    assert check.counts == {"train/pos": 2, "train/neg": 2, "test/pos": 2, "test/neg": 2}
    assert check.fingerprint == readme_fingerprint(reviews)


def test_verify_imdb_wrong_count(tmp_path, reviews):
    del reviews["test/neg/1_2.txt"]
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews)
    with pytest.raises(ArchiveError) as info:
        verify_imdb(tar, reviews_per_class=2, fingerprint=readme_fingerprint(reviews))
    assert str(info.value) == f"{tar}: aclImdb/test/neg has 1 reviews, expected 2"


def test_verify_imdb_fingerprint_mismatch(tmp_path, reviews):
    expected = readme_fingerprint(reviews)
    reviews["train/pos/0_9.txt"] = b"tampered"
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews)
    with pytest.raises(ChecksumError) as info:
        verify_imdb(tar, reviews_per_class=2, fingerprint=expected)
    actual = readme_fingerprint(reviews)
    assert str(info.value) == (
        f"{tar}: content fingerprint mismatch: expected {expected}, got {actual}"
    )


def test_verify_imdb_duplicate_member(tmp_path, reviews):
    dup = tar_member("aclImdb/train/pos/0_9.txt")
    tar = write_imdb_tar(tmp_path / "a.tar.gz", reviews, extra=(dup,))
    with pytest.raises(ArchiveError, match="duplicate review member aclImdb/train/pos/0_9.txt"):
        verify_imdb(tar, reviews_per_class=2, fingerprint=readme_fingerprint(reviews))


def test_extract_zip_member_streams_and_hashes(tmp_path):
    text = glove_text(4)
    zp = write_zip(tmp_path / "glove.6B.zip", {"glove.6B.4d.txt": text, "glove.6B.8d.txt": b"x"})
    dest = tmp_path / "out.txt"
    assert extract_zip_member(zp, "glove.6B.4d.txt", dest) == hashlib.sha256(text).hexdigest()
    assert dest.read_bytes() == text


def test_extract_zip_member_missing_lists_members(tmp_path):
    zp = write_zip(tmp_path / "glove.6B.zip", {"glove.6B.50d.txt": glove_text(50)})
    with pytest.raises(ArchiveError) as info:
        extract_zip_member(zp, "glove.6B.100d.txt", tmp_path / "out.txt")
    assert str(info.value) == (
        "glove.6B.zip has no member glove.6B.100d.txt (members: glove.6B.50d.txt)"
    )
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("../glove.6B.4d.txt", None, "'..' path component"),
        ("/glove.6B.4d.txt", None, "absolute path"),
        ("glove.6B.4d.txt", stat.S_IFLNK | 0o777, "symbolic link"),
        ("glove.6B.4d.txt", stat.S_IFIFO | 0o644, "special file"),
    ],
)
def test_extract_zip_member_rejects_unsafe(tmp_path, name, mode, reason):
    zp = write_zip(tmp_path / "glove.6B.zip", {name: b"target"}, unix_mode=mode)
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip_member(zp, name, tmp_path / "out.txt")
    assert str(info.value) == f"{zp}: unsafe member {name!r}: {reason}"


def test_extract_zip_member_truncated(tmp_path):
    zp = truncate(write_zip(tmp_path / "glove.6B.zip", {"glove.6B.4d.txt": glove_text(4, 50)}))
    with pytest.raises(ArchiveError, match=rf"^{re.escape(str(zp))}: truncated or corrupt zip: "):
        extract_zip_member(zp, "glove.6B.4d.txt", tmp_path / "out.txt")


def test_extract_zip_member_crc_error(tmp_path):
    text = glove_text(4, 50)
    zp = write_zip(tmp_path / "glove.6B.zip", {"glove.6B.4d.txt": text},
                   compression=zipfile.ZIP_STORED)
    data = zp.read_bytes()
    zp.write_bytes(data.replace(b"w10 ", b"w99 ", 1))  # same length, different bytes
    pattern = rf"^{re.escape(str(zp))}: truncated or corrupt zip: Bad CRC-32"
    with pytest.raises(ArchiveError, match=pattern):
        extract_zip_member(zp, "glove.6B.4d.txt", tmp_path / "out.txt")
