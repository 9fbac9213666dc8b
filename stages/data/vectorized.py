"""The vectorized data contract: token ids, ``vocab.tsv`` and the ``.npz`` splits.

Id 0 is the pad token ``""`` and id 1 ``[UNK]``; the ``vectorize`` stage writes the splits and
the vocabulary, and ``load_split`` gives each model family its own top-k vocabulary and sequence
length from the stored ids. NumPy only: stages that read the ids need no TensorFlow.
"""

from __future__ import annotations

import zipfile
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from stages.common.errors import StageError

PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
PAD_ID = 0
UNK_ID = 1


class VectorizedFormatError(StageError):
    """A vocabulary or ``.npz`` split file does not follow the vectorized data contract."""


def clip_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Map ids ``>= vocab_size`` to ``[UNK]``: the top-``vocab_size`` vocabulary (incl. pad, UNK).

    Args:
        ids: integer token ids of any shape.
        vocab_size: number of kept ids, at least 2.

    Returns:
        An int32 copy of ``ids``.
    """
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2 (pad and [UNK]), got {vocab_size}")
    return np.where(ids >= vocab_size, UNK_ID, ids).astype(np.int32)


def token_index(vocabulary: list[str]) -> dict[bytes, int]:
    """Each token's UTF-8 bytes -> its id in ``vocabulary``; the pad token gets none."""
    return {token.encode(): i for i, token in enumerate(vocabulary) if i != PAD_ID}


def tokenize(index: dict[bytes, int], tokens: list[list[bytes]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the reviews' ``tokens`` as flat int32 ``ids`` and int64 ``offsets``
    (len(tokens) + 1); a token missing from ``index`` is ``[UNK]``."""
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    flat = np.fromiter(map(index.get, chain.from_iterable(tokens), repeat(UNK_ID)),
                       dtype=np.int32, count=int(lengths.sum()))
    return flat, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def save_split(path: Path, *, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
    """Write a vectorized split as an uncompressed ``.npz``: int32 ids, int64 offsets, int8 labels.

    ``np.savez`` stamps each member with the current time; fixed timestamps make the file
    byte-identical across reruns, so DVC sees unchanged data and downstream stages stay cached.
    """
    arrays = {
        "ids": ids.astype(np.int32),
        "offsets": offsets.astype(np.int64),
        "labels": labels.astype(np.int8),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)


def load_ragged(npz_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read and check a vectorized split: flat ``ids``, ``offsets`` (n + 1) and ``labels``.

    Raises:
        VectorizedFormatError: a key is missing or the arrays are inconsistent.
    """
    with np.load(npz_path) as data:
        missing = sorted({"ids", "offsets", "labels"} - set(data.files))
        if missing:
            raise VectorizedFormatError(f"{npz_path}: missing arrays {missing}")
        ids, offsets, labels = data["ids"], data["offsets"], data["labels"]
    ok = (
        offsets.ndim == 1
        and len(offsets) == len(labels) + 1
        and offsets[0] == 0
        and offsets[-1] == len(ids)
        and bool(np.all(np.diff(offsets) >= 0))
    )
    if not ok:
        raise VectorizedFormatError(
            f"{npz_path}: offsets must start at 0, end at len(ids)={len(ids)}, be non-decreasing "
            f"and have len(labels) + 1 = {len(labels) + 1} entries (got {len(offsets)})"
        )
    return ids, offsets, labels


def load_split(
    npz_path: Path,
    *,
    vocab_size: int,
    seq_len: int,
    padding: str = "post",
    truncating: str = "post",
) -> tuple[np.ndarray, np.ndarray]:
    """Load a split as a padded id matrix over the top-``vocab_size`` vocabulary.

    Args:
        npz_path: ``data/prepared/vectorized/<split>.npz``.
        vocab_size: ids ``>= vocab_size`` become 1 (``[UNK]``).
        seq_len: every row is padded with 0 or truncated to this length.
        padding: ``"post"`` or ``"pre"`` (where the zeros go).
        truncating: ``"post"`` or ``"pre"`` (which end of a long review is dropped).

    Returns:
        ``(X, y)``: int32 ``[n, seq_len]`` ids and int32 ``[n]`` labels (0 neg, 1 pos).

    Raises:
        VectorizedFormatError: the file breaks the contract.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    ids, offsets, labels = load_ragged(npz_path)
    rows = np.split(clip_ids(ids, vocab_size), offsets[1:-1])
    return pad_rows(rows, seq_len, padding, truncating), labels.astype(np.int32)


def pad_rows(rows: list[np.ndarray], seq_len: int, padding: str, truncating: str) -> np.ndarray:
    """``keras.utils.pad_sequences(rows, maxlen=seq_len, value=PAD_ID)`` for int32 id rows."""
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    x = np.full((len(rows), seq_len), PAD_ID, dtype=np.int32)
    for i, row in enumerate(rows):
        if not len(row):
            continue
        row = row[-seq_len:] if truncating == "pre" else row[:seq_len]
        if padding == "post":
            x[i, : len(row)] = row
        else:
            x[i, -len(row) :] = row
    return x


def read_vocab_counts(path: Path) -> tuple[list[str], np.ndarray]:
    """Read ``vocab.tsv`` (line i = ``token<TAB>count`` of id i).

    Lines are split on ``"\\n"`` only: tokens may hold characters that ``str.splitlines`` would
    treat as line breaks (``\\x1c``, ``\\u2028``...).

    Returns:
        The tokens and their int64 training-split counts.

    Raises:
        VectorizedFormatError: a line lacks its count, or ids 0/1 are not pad/``[UNK]``.
    """
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tokens: list[str] = []
    counts: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        token, sep, count = line.rpartition("\t")
        if not sep or not (count.isascii() and count.isdigit()):
            raise VectorizedFormatError(
                f"{path}:{lineno}: expected 'token<TAB>count', got {line!r}"
            )
        tokens.append(token)
        counts.append(int(count))
    if tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
        raise VectorizedFormatError(
            f"{path}: lines 1-2 must be the pad token '' and {UNK_TOKEN!r}, got {tokens[:2]}"
        )
    return tokens, np.asarray(counts, dtype=np.int64)


def read_vocab(path: Path) -> list[str]:
    """Read the tokens of ``vocab.tsv`` (index = id), ready for ``make_vectorizer``."""
    return read_vocab_counts(path)[0]
