"""Training throughput: the stage's input pipeline against a bare ``model.fit(x, y)``.

Builds the family's model (params.yaml ``train.<family>``) twice with the same seed, as the
stage builds it (its module's builder and features, ``stages.models.keras.fit``), and trains
each on the real prepared train split for a few epochs, taking turns epoch by epoch: one fed by
the stage's ``make_dataset`` (shuffled index batches of padded rows, fixed prefetch; the padded
feed, also for a family that trains on ``batching: length``, which ``bench.batching`` measures),
one fed numpy arrays straight to ``model.fit`` (Keras' own adapter). Epoch 1 (tracing) is
excluded; the table shows every epoch and, as ``timeit`` does, the fastest of the
others: on this shared virtual machine epochs of either feed alternate between two speeds, so
the slow ones measure the machine, not the feed. Usage::

    .venv/bin/python -m bench.bare_keras --family lstm [--epochs 5] [--rows 8000] [--prepared DIR]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from stages.common.paths import PREPARED_DIR
from stages.families import registry
from stages.models.keras.fit import build_model, compile_model, input_length, make_dataset
from stages.train_classifier import Inputs

log = logging.getLogger("bench")
FEEDS = ("stage make_dataset", "bare fit(x, y)")


def build(family: str, cfg, build_kwargs: dict, x: np.ndarray, steps: int) -> keras.Model:
    """The family's compiled model for training on ``x``, built and seeded as the stage builds
    and seeds it."""
    keras.utils.set_random_seed(cfg.seed)
    kwargs = {**build_kwargs, "input_length": input_length(cfg, x)}
    model, strategy = build_model(registry.spec(family).builder, cfg, kwargs)
    with strategy.scope():
        return compile_model(model, cfg, decay_steps=steps)


def family_features(family: str, prepared: Path) -> tuple[Any, Any]:
    """The family's params.yaml params and its features from ``prepared``, with the stage's
    deterministic kernels switched on."""
    tf.config.experimental.enable_op_determinism()  # as the stage: the same kernels both ways
    spec = registry.spec(family)
    cfg = registry.family_params(registry.load_params(), family)
    inputs = Inputs(prepared / "vectorized", prepared / "embeddings.npy", prepared / "imdb")
    return cfg, spec.features(cfg, inputs.of(spec))


def epoch_seconds(
    family: str, cfg, build_kwargs: dict, x: np.ndarray, y: np.ndarray, epochs: int
) -> dict:
    """Per-epoch seconds of each feed, the two trained in turn one epoch at a time.

    Interleaved so that a slow spell of the (shared, virtual) machine hits both feeds alike.
    """
    steps = epochs * -(-len(x) // cfg.batch_size)
    stage, bare = (build(family, cfg, build_kwargs, x, steps) for _ in FEEDS)
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
    parser.add_argument("--family", required=True, choices=registry.names("keras_sentiment"))
    parser.add_argument("--epochs", type=int, default=5, help="epoch 1 is excluded (>= 2)")
    parser.add_argument("--rows", type=int, default=0, help="train rows used (0: all)")
    parser.add_argument("--prepared", type=Path, default=PREPARED_DIR,
                        help=f"prepared data directory (default {PREPARED_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg, features = family_features(args.family, args.prepared)
    x, y = features.data["train"]
    if args.rows:
        x, y = x[: args.rows], y[: args.rows]
    rows = []
    timed = epoch_seconds(args.family, cfg, features.build_kwargs, x, y, args.epochs)
    for name, seconds in timed.items():
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
