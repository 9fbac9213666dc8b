"""The pure-Python standardization and token ids against TensorFlow's on the 50,000 labeled
IMDB reviews.

Reads the reviews straight from the mirror tarball (``stages.prepare_imdb.read_reviews``: the
same members, UTF-8 decoding and path order as the pipeline), standardizes them with
``stages.data.text.standardize`` (one batch, as the vectorizer gets them) and with
``stages.data.standardize.standardize_texts``, and prints one line: reviews, identical
reviews, the sha256 of each implementation's output (every standardized review in UTF-8
followed by a NUL, which standardized text never holds) and the seconds each took. Then the
token ids over the vectorize stage's whole vocabulary (``--vocab``): the TensorFlow
``TextVectorization`` of the pipeline against ``TokenIdEncoder.token_ids`` (what serving runs),
one line likewise. Exits 1, printing the first differing review, unless all are identical.
Usage::

    .venv/bin/python bench/standardize_identity.py [--archive PATH]
        [--vocab data/prepared/vectorized/vocab.tsv]
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
from stages.data.vectorized import read_vocab  # noqa: E402
from stages.models.textmodel import TokenIdEncoder  # noqa: E402
from stages.prepare_imdb import ARCHIVE_NAME, read_reviews  # noqa: E402

log = logging.getLogger("bench")
DEFAULT_MIRROR = REPO.parent / "shared" / "datasets"


def tf_standardize_texts(texts: list[str]) -> list[str]:
    """The TensorFlow standardization of ``texts``, decoded (what ``standardize_texts`` was)."""
    import tensorflow as tf

    from stages.data.text import standardize

    return [s.decode("utf-8") for s in standardize(tf.constant(texts, dtype=tf.string)).numpy()]


def tf_token_ids(vocabulary: list[str], texts: list[str]) -> list:
    """The pipeline's TensorFlow token ids of ``texts`` (the vectorize stage's layer)."""
    import tensorflow as tf

    from stages.data.text import make_vectorizer

    ragged = make_vectorizer(vocabulary)(tf.constant(texts, dtype=tf.string))
    flat, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
    return [flat[a:b] for a, b in zip(splits[:-1], splits[1:], strict=True)]


def digest(texts: list) -> str:
    """sha256 of the texts (UTF-8) or id rows (int32 bytes), each followed by a NUL."""
    sha = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8") if isinstance(text, str) else text.astype("<i4").tobytes()
        sha.update(data + b"\x00")
    return sha.hexdigest()


def compare(what: str, texts: list[str], paths: list[str], python: tuple, tf: tuple) -> bool:
    """Print the identity line of ``what``, and the first difference if any."""
    (py_out, py_s), (tf_out, tf_s) = python, tf
    same = sum(_equal(a, b) for a, b in zip(py_out, tf_out, strict=True))
    print(f"{what}: reviews={len(texts)} identical={same} sha256_tf={digest(tf_out)} "
          f"sha256_python={digest(py_out)} seconds_tf={tf_s:.2f} seconds_python={py_s:.2f}")
    if same == len(texts):
        return True
    i = next(i for i, (a, b) in enumerate(zip(py_out, tf_out, strict=True)) if not _equal(a, b))
    print(f"first difference: {paths[i]}\n  review:     {texts[i]!r}\n"
          f"  tensorflow: {tf_out[i]!r}\n  python:     {py_out[i]!r}")
    return False


def _equal(a, b) -> bool:
    return a == b if isinstance(a, str) else a.tolist() == b.tolist()


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
    parser.add_argument("--vocab", type=Path,
                        default=REPO / "data" / "prepared" / "vectorized" / "vocab.tsv")
    args = parser.parse_args(argv)
    setup_logging()

    frame = read_reviews(args.archive)
    texts, paths = frame["text"].tolist(), frame["path"].tolist()
    start = time.perf_counter()
    import tensorflow  # noqa: F401  (timed apart: the cost the pure version saves on import)

    log.info("tensorflow imported in %.1f s", time.perf_counter() - start)
    python = timed("python", standardize_texts, texts)
    tf = timed("tensorflow", tf_standardize_texts, texts)
    ok = compare("standardized", texts, paths, python, tf)
    vocabulary = read_vocab(args.vocab)
    encoder = TokenIdEncoder(vocabulary, vocab_size=len(vocabulary), seq_len=1, padding="post",
                             truncating="post")
    python = timed("python ids", encoder.token_ids, texts)
    tf = timed("tensorflow ids", lambda t: tf_token_ids(vocabulary, t), texts)
    ok = compare("token ids", texts, paths, python, tf) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
