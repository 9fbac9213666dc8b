"""The pure-Python standardization against TensorFlow's on the 50,000 labeled IMDB reviews.

Reads the reviews straight from the mirror tarball (``stages.prepare_imdb.read_reviews``: the
same members, UTF-8 decoding and path order as the pipeline), standardizes them with
``stages.data.text.standardize`` (one batch, as the vectorizer gets them) and with
``stages.data.standardize.standardize_texts``, and prints one line: reviews, identical
reviews, the sha256 of each implementation's output (every standardized review in UTF-8
followed by a NUL, which standardized text never holds) and the seconds each took. Exits 1,
printing the first differing review, unless all are identical. Usage::

    .venv/bin/python bench/standardize_identity.py [--archive PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stages.common.logs import setup_logging  # noqa: E402
from stages.data.standardize import standardize_texts  # noqa: E402
from stages.prepare_imdb import ARCHIVE_NAME, read_reviews  # noqa: E402

log = logging.getLogger("bench")
DEFAULT_MIRROR = REPO.parent / "shared" / "datasets"


def tf_standardize_texts(texts: list[str]) -> list[str]:
    """The TensorFlow standardization of ``texts``, decoded (what ``standardize_texts`` was)."""
    import tensorflow as tf

    from stages.data.text import standardize

    return [s.decode("utf-8") for s in standardize(tf.constant(texts, dtype=tf.string)).numpy()]


def digest(texts: list[str]) -> str:
    sha = hashlib.sha256()
    for text in texts:
        sha.update(text.encode("utf-8") + b"\x00")
    return sha.hexdigest()


def timed(label: str, func, texts: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = func(texts)
    seconds = time.perf_counter() - start
    log.info("%s: %d reviews in %.2f s", label, len(out), seconds)
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mirror = Path(os.environ.get("NLP_DATA_MIRROR") or DEFAULT_MIRROR)
    parser.add_argument("--archive", type=Path, default=mirror / ARCHIVE_NAME)
    args = parser.parse_args(argv)
    setup_logging()

    frame = read_reviews(args.archive)
    texts, paths = frame["text"].tolist(), frame["path"].tolist()
    start = time.perf_counter()
    import tensorflow  # noqa: F401  (timed apart: the cost the pure version saves on import)

    log.info("tensorflow imported in %.1f s", time.perf_counter() - start)
    py_out, py_s = timed("python", standardize_texts, texts)
    tf_out, tf_s = timed("tensorflow", tf_standardize_texts, texts)
    same = sum(a == b for a, b in zip(py_out, tf_out, strict=True))
    print(f"reviews={len(texts)} identical={same} sha256_tf={digest(tf_out)} "
          f"sha256_python={digest(py_out)} seconds_tf={tf_s:.2f} seconds_python={py_s:.2f}")
    if same == len(texts):
        return 0
    i = next(i for i, (a, b) in enumerate(zip(py_out, tf_out, strict=True)) if a != b)
    print(f"first difference: {paths[i]}\n  review:     {texts[i]!r}\n"
          f"  tensorflow: {tf_out[i]!r}\n  python:     {py_out[i]!r}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
