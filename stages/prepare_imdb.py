"""Stage ``prepare_imdb``: labeled IMDB reviews -> train / val / test Parquet splits.

Inputs:  data/raw/aclImdb_v1.tar.gz (read as a stream, never extracted).
Outputs: data/prepared/imdb/{train,val,test}.parquet with columns ``text`` (the review, UTF-8
         decoded, unchanged), ``label`` (int8, 0 neg / 1 pos) and ``path`` (member path relative
         to ``aclImdb/``, e.g. ``train/pos/0_9.txt``); rows sorted by ``path``, so consumers
         shuffle. ``val`` is a stratified, seeded share of the archive's train reviews; ``test``
         is the archive's test set, untouched.
         metrics/prepare_imdb.json: reviews, positives, negatives and positive share per split.
Params:  base.seed, prepare_imdb.val_fraction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.common.io import atomic_path, atomic_write_json
from stages.common.params import Params, load_params
from stages.common.paths import METRICS_DIR, PREPARED_DIR, RAW_DIR
from stages.data.archive import IMDB_ROOT, iter_imdb_reviews

log = logging.getLogger(__name__)

ARCHIVE_NAME = "aclImdb_v1.tar.gz"
LABELS = {"neg": 0, "pos": 1}
COLUMNS = ["text", "label", "path"]


class PrepareImdbError(StageError):
    """A review is not valid UTF-8, or a split lacks reviews of a class."""


def read_reviews(tar_path: Path) -> pd.DataFrame:
    """All labeled reviews of the archive, sorted by path, with their archive split.

    Returns:
        Columns ``text``, ``label``, ``path`` and ``split`` (``train`` or ``test``).

    Raises:
        PrepareImdbError: a review is not valid UTF-8, or a split/class is empty.
    """
    rows = []
    for path, data in iter_imdb_reviews(tar_path):
        split, label, _ = path.split("/", 2)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PrepareImdbError(
                f"{tar_path}: member {IMDB_ROOT}{path} is not valid UTF-8: {exc}"
            ) from exc
        rows.append((text, LABELS[label], path, split))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "split"]).astype({"label": "int8"})
    # Archive order is an accident of how the tarball was built; path order is reproducible.
    frame = frame.sort_values("path", ignore_index=True)
    for split in ("train", "test"):
        for name, label in LABELS.items():
            if not ((frame["split"] == split) & (frame["label"] == label)).any():
                raise PrepareImdbError(f"{tar_path}: no reviews under {IMDB_ROOT}{split}/{name}/")
    return frame


def split_reviews(
    frame: pd.DataFrame, *, val_fraction: float, seed: int
) -> dict[str, pd.DataFrame]:
    """Carve a stratified, seeded validation split out of the train reviews.

    Returns:
        ``train``, ``val`` and ``test`` frames with ``COLUMNS``, each sorted by path.
    """
    train = frame[frame["split"] == "train"]
    fit, val = train_test_split(
        train, test_size=val_fraction, random_state=seed, stratify=train["label"]
    )
    splits = {"train": fit, "val": val, "test": frame[frame["split"] == "test"]}
    return {
        name: part.sort_values("path", ignore_index=True)[COLUMNS] for name, part in splits.items()
    }


def split_metrics(splits: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Size and class balance of each split."""
    metrics: dict[str, float] = {}
    for name, part in splits.items():
        positives = int(part["label"].sum())
        metrics[f"{name}_reviews"] = len(part)
        metrics[f"{name}_pos"] = positives
        metrics[f"{name}_neg"] = len(part) - positives
        metrics[f"{name}_pos_fraction"] = round(positives / len(part), 6)
    return metrics


def run(
    params: Params,
    *,
    raw_dir: Path = RAW_DIR,
    prepared_dir: Path = PREPARED_DIR,
    metrics_dir: Path = METRICS_DIR,
) -> dict[str, float]:
    """Read the archive, split it, write the Parquet files and ``prepare_imdb.json``.

    Args:
        params: validated params (``base.seed``, ``prepare_imdb.val_fraction``).
        raw_dir: holds ``aclImdb_v1.tar.gz``.
        prepared_dir: receives ``imdb/``.
        metrics_dir: receives ``prepare_imdb.json``.

    Returns:
        The metrics written.
    """
    frame = read_reviews(raw_dir / ARCHIVE_NAME)
    splits = split_reviews(
        frame, val_fraction=params.prepare_imdb.val_fraction, seed=params.base.seed
    )
    with atomic_path(prepared_dir / "imdb") as out:
        out.mkdir()
        for name, part in splits.items():
            part.to_parquet(out / f"{name}.parquet", index=False)
            log.info("%s: %d reviews (%d positive)", name, len(part), part["label"].sum())
    metrics = split_metrics(splits)
    atomic_write_json(metrics_dir / "prepare_imdb.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m stages.prepare_imdb``."""
    return stage_main("prepare_imdb", lambda _: run(load_params()), argv, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
