"""Stage ``embeddings``: the GloVe matrix of the training vocabulary, and its coverage.

Inputs:  data/raw/glove.6B.<base.glove_dim>d.txt, data/prepared/vectorized/vocab.tsv.
Outputs: data/prepared/embeddings.npy: float32 ``[len(vocab), base.glove_dim]``, row i = id i.
         Rows 0 (pad) and 1 (``[UNK]``) are zero. Rows of words GloVe lacks (OOV) follow
         ``embeddings.oov``: ``zero`` keeps them zero; ``random`` draws them from
         N(0, s^2), s = the standard deviation of all values of the GloVe vectors found for the
         vocabulary, with ``numpy.random.default_rng(base.seed)``.
         metrics/embeddings.json: ``vocab_coverage`` (share of vocabulary words, pad and
         ``[UNK]`` excluded, found in GloVe), ``token_coverage`` (share of train-split token
         occurrences whose word is found, from the vocab.tsv counts), the same two for the
         top-20,000 vocabulary (ids < 20,000; ``token_coverage_top20k`` counts the occurrences
         of rarer words as uncovered, since a 20k-vocabulary model maps them to ``[UNK]``),
         ``glove_dim``, ``glove_words`` (lines in the file), ``vocab_size``.
Params:  base.seed, base.glove_dim, embeddings.oov.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params, load_params
from stages.common.paths import METRICS_DIR, PREPARED_DIR, RAW_DIR
from stages.data.glove import GloveFormatError, glove_path
from stages.data.vectorized import UNK_ID, read_vocab_counts

log = logging.getLogger(__name__)

# Vocabulary size of the DLwP families; coverage is also reported for it.
REPORT_TOP_K = 20_000


class EmbeddingsError(StageError):
    """No vocabulary word was found in GloVe (wrong file or vocabulary)."""


def scan_glove(
    path: Path, lines: list[bytes], wanted: dict[bytes, int], dim: int
) -> tuple[list[int], list[int], list[bytes]]:
    """Check every line's field count; pick the lines of ``wanted`` words (first occurrence).

    Returns:
        Vocabulary ids, 1-based line numbers and the vector text (bytes) of each found word.

    Raises:
        GloveFormatError: a line has other than ``dim + 1`` space-separated fields.
    """
    ids: list[int] = []
    linenos: list[int] = []
    payloads: list[bytes] = []
    for lineno, line in enumerate(lines, start=1):
        # Counting separators in C and looking up only the word keeps 400k lines well under 1 s.
        if line.count(b" ") != dim:
            raise GloveFormatError(
                f"{path}:{lineno}: expected a word and {dim} numbers separated by single spaces, "
                f"got {line.count(b' ') + 1} fields"
            )
        space = line.index(b" ")
        token_id = wanted.pop(line[:space], None)
        if token_id is not None:
            ids.append(token_id)
            linenos.append(lineno)
            payloads.append(line[space + 1 :])
    return ids, linenos, payloads


def parse_vectors(path: Path, linenos: list[int], payloads: list[bytes], dim: int) -> np.ndarray:
    """Parse the selected vector texts in one call into float32 ``[len(payloads), dim]``.

    pandas' C parser reads the ~3M numbers of a 100k vocabulary 4x faster than
    ``np.array(text.split(), dtype=np.float32)``, with identical values.

    Raises:
        GloveFormatError: a value is not a finite number (the message names its line).
    """
    text = io.BytesIO(b"\n".join(payloads))
    try:
        values = pd.read_csv(
            text, sep=" ", header=None, dtype=np.float32, quoting=csv.QUOTE_NONE, na_filter=False
        ).to_numpy()
    except (ValueError, pd.errors.ParserError):
        raise_bad_line(path, linenos, payloads, dim)
    if values.shape != (len(payloads), dim) or not np.isfinite(values).all():
        raise_bad_line(path, linenos, payloads, dim)
    return values


def raise_bad_line(path: Path, linenos: list[int], payloads: list[bytes], dim: int) -> NoReturn:
    """Find the line whose vector failed the bulk parse; raise ``GloveFormatError`` naming it."""
    for lineno, payload in zip(linenos, payloads, strict=True):
        try:
            row = np.array(payload.split(), dtype=np.float32)
        except ValueError as exc:
            raise GloveFormatError(f"{path}:{lineno}: {exc}") from exc
        if row.shape != (dim,):
            raise GloveFormatError(f"{path}:{lineno}: {row.size} numbers, expected {dim}")
        if not np.isfinite(row).all():
            raise GloveFormatError(f"{path}:{lineno}: non-finite value in the vector")
    raise GloveFormatError(f"{path}: vectors failed to parse, but no single line is at fault")


def read_glove(path: Path, vocab: list[str], dim: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectors of the vocabulary words (ids >= 2) present in the GloVe text file ``path``.

    Every line's field count is checked; only the numbers of vocabulary words are parsed.

    Returns:
        Found ids (int64), their float32 vectors ``[n_found, dim]`` and the file's line count.

    Raises:
        GloveFormatError: empty file, dimension other than ``dim``, or a malformed line.
        EmbeddingsError: no vocabulary word is in the file (wrong file or vocabulary).
    """
    lines = Path(path).read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if not lines:
        raise GloveFormatError(f"{path}: empty file")
    file_dim = lines[0].count(b" ")
    if file_dim != dim:
        raise GloveFormatError(
            f"{path}: vectors have {file_dim} dimensions (line 1), but base.glove_dim is {dim}"
        )
    wanted = {token.encode("utf-8"): i for i, token in enumerate(vocab) if i > UNK_ID}
    ids, linenos, payloads = scan_glove(path, lines, wanted, dim)
    if not ids:
        raise EmbeddingsError(f"{path}: none of the {len(vocab) - 2} vocabulary words found")
    vectors = parse_vectors(path, linenos, payloads, dim)
    return np.asarray(ids, dtype=np.int64), vectors, len(lines)


def build_matrix(
    vocab_size: int, ids: np.ndarray, vectors: np.ndarray, *, oov: str, seed: int
) -> np.ndarray:
    """Embedding matrix: GloVe rows at ``ids``, pad/UNK rows zero, OOV rows per ``oov``."""
    dim = vectors.shape[1]
    if oov == "random":
        rng = np.random.default_rng(seed)
        matrix = rng.normal(0.0, float(vectors.std()), size=(vocab_size, dim)).astype(np.float32)
        matrix[: UNK_ID + 1] = 0.0
    else:
        matrix = np.zeros((vocab_size, dim), dtype=np.float32)
    matrix[ids] = vectors
    return matrix


def coverage(
    found: np.ndarray, counts: np.ndarray, top_k: int | None = None
) -> tuple[float, float]:
    """Share of vocabulary words and of train token occurrences with a GloVe vector.

    Args:
        found: bool per id, True when GloVe has the word.
        counts: train occurrences per id.
        top_k: restrict to ids < ``top_k`` (occurrences of other ids count as uncovered).

    Returns:
        ``(vocab_coverage, token_coverage)``, rounded to 6 digits.
    """
    words = slice(UNK_ID + 1, top_k)
    vocab_share = float(found[words].mean())
    token_share = float(counts[words][found[words]].sum() / counts.sum())
    return round(vocab_share, 6), round(token_share, 6)


def run(
    params: Params,
    *,
    raw_dir: Path = RAW_DIR,
    prepared_dir: Path = PREPARED_DIR,
    metrics_dir: Path = METRICS_DIR,
) -> dict[str, float]:
    """Build ``embeddings.npy`` from GloVe and ``vocab.tsv``; write ``embeddings.json``.

    Args:
        params: validated params (``base.seed``, ``base.glove_dim``, ``embeddings.oov``).
        raw_dir: holds the GloVe text file.
        prepared_dir: holds ``vectorized/vocab.tsv``; receives ``embeddings.npy``.
        metrics_dir: receives ``embeddings.json``.

    Returns:
        The metrics written.
    """
    dim = params.base.glove_dim
    vocab, counts = read_vocab_counts(prepared_dir / "vectorized" / "vocab.tsv")
    path = glove_path(raw_dir, dim)
    start = time.perf_counter()
    ids, vectors, glove_words = read_glove(path, vocab, dim)
    log.info("parsed %s (%d words) in %.2f s", path.name, glove_words, time.perf_counter() - start)
    matrix = build_matrix(
        len(vocab), ids, vectors, oov=params.embeddings.oov, seed=params.base.seed
    )
    with atomic_path(prepared_dir / "embeddings.npy", suffix=".npy") as tmp:
        np.save(tmp, matrix)
    found = np.zeros(len(vocab), dtype=bool)
    found[ids] = True
    vocab_cov, token_cov = coverage(found, counts)
    vocab_cov_top, token_cov_top = coverage(found, counts, REPORT_TOP_K)
    metrics = {
        "glove_dim": dim,
        "glove_words": glove_words,
        "vocab_size": len(vocab),
        "vocab_coverage": vocab_cov,
        "token_coverage": token_cov,
        "vocab_coverage_top20k": vocab_cov_top,
        "token_coverage_top20k": token_cov_top,
    }
    log.info("matrix %s; %d of %d words found in GloVe", matrix.shape, len(ids), len(vocab) - 2)
    atomic_write_json(metrics_dir / "embeddings.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.embeddings``."""
    return stage_main("embeddings", lambda _: run(load_params()), argv, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
