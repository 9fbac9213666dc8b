"""The 50,000 labeled IMDB reviews of the real offline mirror, prepared as the pipeline prepares
them: ``prepare_imdb`` (and, for the token ids, ``vectorize``) run into a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from stages import prepare_imdb
from stages.common.params import load_params

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="session")
def prepared(shared_mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``data/prepared`` holding ``imdb/``, written by the ``prepare_imdb`` stage from the
    mirror's archive with params.yaml's split."""
    out = tmp_path_factory.mktemp("prepared")
    prepare_imdb.run(load_params(), raw_dir=shared_mirror, prepared_dir=out, metrics_dir=out)
    return out


@pytest.fixture(scope="session")
def splits(prepared: Path) -> dict[str, pd.DataFrame]:
    """``train``, ``val`` and ``test`` (columns ``text``, ``label``, ``path``)."""
    return {split: pd.read_parquet(prepared / "imdb" / f"{split}.parquet") for split in SPLITS}


@pytest.fixture(scope="session")
def reviews(splits: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every labeled review of the archive, train, val then test."""
    frame = pd.concat(splits.values(), ignore_index=True)
    assert len(frame) == 50_000 and frame["path"].is_unique
    return frame
