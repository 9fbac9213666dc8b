"""Length-sorted training batches (``batching: length``) of the Keras fit loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stages.common.params import ParamsError
from stages.data.vectorized import pad_rows
from stages.families.registry import spec
from stages.models.keras.fit import (
    SORT_CHUNK,
    WIDTH_STEP,
    input_length,
    make_length_dataset,
    train_dataset,
)
from tests.classifier_fixtures import tiny_cfg

SEQ_LEN = 64
ROWS = 1000
BATCH = 16


def ragged_ids(padding: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ROWS`` reviews of 1..``SEQ_LEN`` nonzero ids padded as ``padding`` says, their
    lengths and labels; row ``i``'s ids all equal ``i + 1`` so a row is recognisable."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, SEQ_LEN + 1, ROWS)
    rows = [np.full(n, i + 1, np.int32) for i, n in enumerate(lengths)]
    x = pad_rows(rows, SEQ_LEN, padding, padding)
    return x, lengths, rng.integers(0, 2, ROWS).astype(np.int32)


def epoch(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(xb.numpy(), yb.numpy()) for xb, yb in ds]


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_every_row_once_per_epoch_cut_only_padding(padding: str) -> None:
    x, lengths, y = ragged_ids(padding)
    ds = make_length_dataset(x, y, batch_size=BATCH, seed=3, padding=padding)
    batches = epoch(ds)
    assert len(batches) == int(ds.cardinality()) == -(-ROWS // BATCH)
    seen = []
    for xb, yb in batches:
        rows = xb.max(axis=1) - 1  # the row index each batch row holds
        width = xb.shape[1]
        assert width % WIDTH_STEP == 0 or width == SEQ_LEN
        assert width - WIDTH_STEP < lengths[rows].max() <= width
        kept = x[rows][:, SEQ_LEN - width :] if padding == "pre" else x[rows][:, :width]
        np.testing.assert_array_equal(xb, kept)  # the cut removed zeros only
        np.testing.assert_array_equal(yb, y[rows])
        seen.extend(rows)
    assert sorted(seen) == list(range(ROWS))


def test_batches_hold_similar_lengths_and_reshuffle_each_epoch() -> None:
    x, lengths, y = ragged_ids("pre")
    ds = make_length_dataset(x, y, batch_size=BATCH, seed=3, padding="pre")
    first, second = epoch(ds), epoch(ds)
    spread = np.mean([np.ptp(lengths[xb.max(axis=1) - 1]) for xb, _ in first])
    # sorted within chunks of SORT_CHUNK batches: a batch spans about 1/SORT_CHUNK of the range
    assert spread < SEQ_LEN / SORT_CHUNK * 2
    mean_width = np.mean([xb.shape[1] for xb, _ in first])
    assert mean_width < 0.75 * SEQ_LEN
    order = [tuple(xb.max(axis=1)) for xb, _ in first]
    assert order != [tuple(xb.max(axis=1)) for xb, _ in second]
    again = make_length_dataset(x, y, batch_size=BATCH, seed=3, padding="pre")
    assert order == [tuple(xb.max(axis=1)) for xb, _ in epoch(again)]


def test_train_dataset_follows_batching() -> None:
    x, _, y = ragged_ids("pre")
    cfg = tiny_cfg("lstm")
    widths = {
        batching: {xb.shape[1] for xb, _ in epoch(
            train_dataset(dataclasses.replace(cfg, batching=batching), x, y))}
        for batching in ("padded", "length")
    }
    assert widths["padded"] == {SEQ_LEN}
    assert len(widths["length"]) > 3


def test_length_batched_lstm_takes_any_length_and_scores_padded() -> None:
    cfg = dataclasses.replace(tiny_cfg("lstm"), batching="length")
    length = input_length(cfg, np.zeros((2, cfg.seq_len), np.int32))
    model = spec("lstm").builder(cfg, vocab_size=cfg.vocab_size, input_length=length)
    assert length is None and model.inputs[0].shape[1] is None
    ids = np.array([[0, 0, 0, 5, 6, 7]], np.int32)
    assert model(ids).shape == (1, 1) and model(ids[:, -3:]).shape == (1, 1)


def test_unknown_batching_names_the_key() -> None:
    with pytest.raises(ParamsError, match=r"train\.lstm\.batching: .*'bucket'"):
        tiny_cfg("lstm", batching="bucket")
