"""prepare_imdb: stratified seeded val split, untouched test split, UTF-8 checks, metrics."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from stages import prepare_imdb
from stages.common.params import load_params
from tests.archive_fixtures import write_imdb_tar


def params_with(seed: int = 1337, val_fraction: float = 0.2):
    params = load_params()
    return dataclasses.replace(
        params,
        base=dataclasses.replace(params.base, seed=seed),
        prepare_imdb=dataclasses.replace(params.prepare_imdb, val_fraction=val_fraction),
    )


def reviews(train_per_class: int = 10, test_pos: int = 3, test_neg: int = 2) -> dict[str, bytes]:
    counts = {
        "train/pos": train_per_class,
        "train/neg": train_per_class,
        "test/pos": test_pos,
        "test/neg": test_neg,
    }
    return {
        f"{cls}/{i}_{9 if cls.endswith('pos') else 2}.txt": f"{cls} review {i}, caf\u00e9".encode()
        for cls, n in counts.items()
        for i in range(n)
    }


def run_stage(tmp_path, data: dict[str, bytes], **params):
    write_imdb_tar(tmp_path / "raw" / "aclImdb_v1.tar.gz", data)
    metrics = prepare_imdb.run(
        params_with(**params),
        raw_dir=tmp_path / "raw",
        prepared_dir=tmp_path / "prepared",
        metrics_dir=tmp_path / "metrics",
    )
    splits = {
        s: pd.read_parquet(tmp_path / "prepared" / "imdb" / f"{s}.parquet")
        for s in ("train", "val", "test")
    }
    return metrics, splits


@pytest.fixture
def raw(tmp_path):
    (tmp_path / "raw").mkdir()
    return tmp_path


def test_prepare_imdb_splits_sizes_labels_and_metrics(raw):
    metrics, splits = run_stage(raw, reviews())
    assert {name: len(part) for name, part in splits.items()} == {"train": 16, "val": 4, "test": 5}
    assert splits["val"]["label"].tolist().count(1) == 2  # stratified: 2 pos, 2 neg
    assert splits["test"]["path"].tolist() == [
        "test/neg/0_2.txt",
        "test/neg/1_2.txt",
        "test/pos/0_9.txt",
        "test/pos/1_9.txt",
        "test/pos/2_9.txt",
    ]
    assert splits["test"]["label"].tolist() == [0, 0, 1, 1, 1]
    assert splits["test"]["text"].iloc[2] == "test/pos review 0, caf\u00e9"
    assert list(splits["train"].columns) == ["text", "label", "path"]
    assert str(splits["train"]["label"].dtype) == "int8"
    train_paths = set(splits["train"]["path"]) | set(splits["val"]["path"])
    assert train_paths == {p for p in reviews() if p.startswith("train/")}
    assert not set(splits["train"]["path"]) & set(splits["val"]["path"])
    for part in splits.values():
        assert part["path"].is_monotonic_increasing
        assert (part["label"] == part["path"].str.contains("/pos/")).all()
    expected = {
        "train_reviews": 16,
        "train_pos": 8,
        "train_neg": 8,
        "train_pos_fraction": 0.5,
        "val_reviews": 4,
        "val_pos": 2,
        "val_neg": 2,
        "val_pos_fraction": 0.5,
        "test_reviews": 5,
        "test_pos": 3,
        "test_neg": 2,
        "test_pos_fraction": 0.6,
    }
    assert metrics == expected
    assert json.loads((raw / "metrics" / "prepare_imdb.json").read_text()) == expected


def test_prepare_imdb_split_depends_only_on_seed(tmp_path):
    vals = []
    for run_dir, seed in [("a", 1), ("b", 1), ("c", 2)]:
        (tmp_path / run_dir / "raw").mkdir(parents=True)
        _, splits = run_stage(tmp_path / run_dir, reviews(train_per_class=50), seed=seed)
        vals.append(splits["val"]["path"].tolist())
    assert vals[0] == vals[1]
    assert vals[0] != vals[2]
    assert len(vals[0]) == 20


def test_prepare_imdb_invalid_utf8_names_member_and_writes_nothing(raw):
    data = reviews()
    data["train/neg/3_2.txt"] = b"bad \xff byte"
    with pytest.raises(
        prepare_imdb.PrepareImdbError,
        match=r"member aclImdb/train/neg/3_2\.txt is not valid UTF-8",
    ):
        run_stage(raw, data)
    assert not (raw / "prepared" / "imdb").exists()
    assert not (raw / "metrics" / "prepare_imdb.json").exists()


def test_prepare_imdb_missing_class_is_an_error(raw):
    data = {p: d for p, d in reviews().items() if not p.startswith("test/neg/")}
    with pytest.raises(prepare_imdb.PrepareImdbError, match=r"no reviews under aclImdb/test/neg/"):
        run_stage(raw, data)
