"""Training throughput: the stage's input pipeline against a bare ``model.fit(x, y)``.

Builds the family's model (params.yaml ``train.<family>``) twice with the same seed and trains
each on the real ``data/prepared/vectorized/train.npz`` for a few epochs, taking turns epoch by
epoch: one fed the stage's way (``train_classifier.make_dataset``: shuffled index batches, fixed
prefetch), one fed numpy arrays straight to ``model.fit`` (Keras' own adapter). Epoch 1
(tracing) is excluded; the table shows every epoch and, as ``timeit`` does, the fastest of the
others: on this shared virtual machine epochs of either feed alternate between two speeds, so
the slow ones measure the machine, not the feed. Usage::

    .venv/bin/python bench/bare_keras.py --family lstm [--epochs 5] [--rows 8000]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from stages.common.params import load_params  # noqa: E402
from stages.common.paths import PREPARED_DIR  # noqa: E402
from stages.common.text import load_split, read_vocab  # noqa: E402
from stages.models.classifiers import BUILDERS, compile_model  # noqa: E402
from stages.train_classifier import make_dataset  # noqa: E402

log = logging.getLogger("bench")
FEEDS = ("stage make_dataset", "bare fit(x, y)")


def build(family: str, cfg, steps: int) -> keras.Model:
    """The family's compiled model, seeded as the stage seeds it."""
    keras.utils.set_random_seed(cfg.seed)
    embeddings = np.load(PREPARED_DIR / "embeddings.npy") if family == "glove_bilstm" else None
    vocab_size = min(cfg.vocab_size, len(read_vocab(PREPARED_DIR / "vectorized" / "vocab.tsv")))
    model = BUILDERS[family](cfg, vocab_size=vocab_size, embeddings=embeddings)
    return compile_model(model, cfg, decay_steps=steps)


def epoch_seconds(family: str, cfg, x: np.ndarray, y: np.ndarray, epochs: int) -> dict:
    """Per-epoch seconds of each feed, the two trained in turn one epoch at a time.

    Interleaved so that a slow spell of the (shared, virtual) machine hits both feeds alike.
    """
    steps = epochs * -(-len(x) // cfg.batch_size)
    stage, bare = build(family, cfg, steps), build(family, cfg, steps)
    data = make_dataset(x, y, batch_size=cfg.batch_size, seed=cfg.seed)
    fits = {
        FEEDS[0]: lambda e: stage.fit(
            data, initial_epoch=e, epochs=e + 1, shuffle=False, verbose=0
        ),
        FEEDS[1]: lambda e: bare.fit(
            x, y, batch_size=cfg.batch_size, initial_epoch=e, epochs=e + 1, verbose=0
        ),
    }
    seconds: dict[str, list[float]] = {feed: [] for feed in FEEDS}
    for epoch in range(epochs):
        for feed, fit in fits.items():
            start = time.perf_counter()
            fit(epoch)
            seconds[feed].append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", required=True, choices=sorted(BUILDERS))
    parser.add_argument("--epochs", type=int, default=5, help="epoch 1 is excluded (>= 2)")
    parser.add_argument("--rows", type=int, default=0, help="train rows used (0: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tf.config.experimental.enable_op_determinism()  # as the stage: the same kernels both ways
    cfg = load_params().train[args.family]
    x, y = load_split(
        PREPARED_DIR / "vectorized" / "train.npz",
        vocab_size=cfg.vocab_size,
        seq_len=cfg.seq_len,
        padding=cfg.padding,
        truncating=cfg.truncating,
    )
    if args.rows:
        x, y = x[: args.rows], y[: args.rows]
    rows = []
    for name, seconds in epoch_seconds(args.family, cfg, x, y, args.epochs).items():
        best = min(seconds[1:])
        rows.append((name, seconds, best, len(x) / best))
    log.info("%s: %d rows, batch %d", args.family, len(x), cfg.batch_size)
    log.info("| feed | epoch seconds | fastest (epochs 2+) | reviews/s |")
    log.info("|---|---|---|---|")
    for name, seconds, best, rate in rows:
        log.info(
            "| %s | %s | %.1f | %.0f |", name, " ".join(f"{s:.1f}" for s in seconds), best, rate
        )
    log.info("stage / bare throughput: %.3f", rows[0][3] / rows[1][3])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
