"""The test-set predictions file of a sentiment family: ``metrics/predictions/<family>.npz``.

Two arrays in the fixed test order: ``label`` (int8 ``[n]``, 0 neg / 1 pos) and
``probability`` (float64 ``[n]``, P(positive)). The file is a git-tracked output
(``cache: false``), so ``stages.commands.significance`` can read it at any revision or experiment.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from stages.common.errors import StageError
from stages.common.io import atomic_write_bytes
from stages.common.paths import PREDICTIONS_DIR, REPO_ROOT

KEYS = ("label", "probability")


class PredictionsFormatError(StageError):
    """Not an ``.npz`` with 1-D ``label`` and ``probability`` arrays of one length."""


def predictions_path(family: str) -> Path:
    """Repo-relative path of a family's predictions file."""
    return (PREDICTIONS_DIR / f"{family}.npz").relative_to(REPO_ROOT)


def predictions_bytes(label: np.ndarray, probability: np.ndarray) -> bytes:
    """The ``.npz`` bytes; fixed member timestamps make them identical for identical arrays.

    ``np.savez`` stamps members with the current time: a rerun with the same predictions would
    otherwise change the git-tracked file.
    """
    arrays = {"label": np.asarray(label, np.int8), "probability": np.asarray(probability, float)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w") as fh:
                np.lib.format.write_array(fh, array, allow_pickle=False)
    return buffer.getvalue()


def save_predictions(target: Path, label: np.ndarray, probability: np.ndarray) -> None:
    """Write the predictions file atomically."""
    atomic_write_bytes(target, predictions_bytes(label, probability))


def parse_predictions(data: bytes, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Read predictions from ``.npz`` bytes.

    Args:
        data: the file's content.
        source: where it came from, for messages (e.g. ``metrics/predictions/lstm.npz@HEAD``).

    Returns:
        ``(label, probability)``.

    Raises:
        PredictionsFormatError: not an ``.npz``, a key is missing, or the shapes disagree.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in KEYS if key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PredictionsFormatError(f"{source}: not a readable .npz file ({exc})") from exc
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise PredictionsFormatError(f"{source}: missing arrays {missing}")
    label, probability = arrays["label"], arrays["probability"]
    if label.ndim != 1 or label.shape != probability.shape:
        raise PredictionsFormatError(
            f"{source}: label and probability must be 1-D of one length, got shapes "
            f"{label.shape} and {probability.shape}"
        )
    return label, probability
