"""Training epoch time of a family with padded against length-sorted batches (``batching``).

Builds the family's model (params.yaml ``train.<family>``) twice with the same seed, as the
stage builds it, once per ``batching`` value, and trains both on the real prepared train split,
taking turns epoch by epoch so that a slow spell of the machine hits both alike. After every
epoch each model's accuracy on the val split is measured as the stage and the server score it
(padded to ``seq_len``). Prints per-epoch seconds, the median ratio length/padded and the val
accuracies. Usage::

    .venv/bin/python -m bench.batching --family lstm [--epochs 2] [--prepared DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.bare_keras import build, family_features
from stages.common.paths import PREPARED_DIR
from stages.families import registry
from stages.models.keras.fit import predict_keras, train_dataset

log = logging.getLogger("bench")
BATCHING = ("padded", "length")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", required=True, choices=registry.names("keras_sentiment"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--prepared", type=Path, default=PREPARED_DIR,
                        help=f"prepared data directory (default {PREPARED_DIR})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base, features = family_features(args.family, args.prepared)
    (x, y), (x_val, y_val) = features.data["train"], features.data["val"]
    steps = args.epochs * -(-len(y) // base.batch_size)
    models, datasets = {}, {}
    for batching in BATCHING:
        cfg = dataclasses.replace(base, batching=batching)
        models[batching] = build(args.family, cfg, features.build_kwargs, x, steps)
        datasets[batching] = train_dataset(cfg, x, y)
    seconds: dict[str, list[float]] = {b: [] for b in BATCHING}
    for epoch in range(args.epochs):
        for batching in BATCHING:
            start = time.perf_counter()
            models[batching].fit(datasets[batching], initial_epoch=epoch, epochs=epoch + 1,
                                 shuffle=False, verbose=0)
            seconds[batching].append(time.perf_counter() - start)
            accuracy = float(np.mean((predict_keras(models[batching], x_val) > 0.5) == y_val))
            log.info("%s epoch %d: %s batches %.1f s, val accuracy %.4f", args.family, epoch + 1,
                     batching, seconds[batching][-1], accuracy)
    ratios = [b / a for a, b in zip(seconds["padded"], seconds["length"], strict=True)]
    log.info("%s length/padded epoch seconds: %s (median %.2f)", args.family,
             " ".join(f"{r:.2f}" for r in ratios), statistics.median(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
