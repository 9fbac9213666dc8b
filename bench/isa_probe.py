"""Do Keras/TF CPU results depend on the instruction set? One seeded, deterministic training run.

Trains a small LSTM (or transformer) classifier on a seeded sample of the real vectorized IMDB
training split with op determinism on, then predicts a seeded sample of the validation split,
and saves the final weights, the probabilities and the epoch times to ``OUT/<label>.npz``. The
instruction set is chosen from outside, one fresh process per setting, since TensorFlow and oneDNN
read the environment once, at start-up::

    ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python -m bench.isa_probe --label avx2 --out /tmp/isa
    TF_ENABLE_ONEDNN_OPTS=0 ONEDNN_MAX_CPU_ISA=AVX .venv/bin/python -m bench.isa_probe ...

``--compare --out OUT [--ref LABEL]`` prints one JSON line per run: the runs it is bitwise
identical to and, against ``--ref``, the max |dw| over all weights, the max |dp| of the
probabilities, the accuracy, the false positives/negatives and how many held-out predictions flip.
Measured on TF 2.21 / oneDNN 3.7.3: every ISA cap gives its own bitwise result, with oneDNN opts on
or off; only repeats under one setting are bitwise identical.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from stages.common.paths import PREPARED_DIR
from stages.data.vectorized import load_split

log = logging.getLogger("isa_probe")


def sample(path: Path, n: int, *, seed: int, seq_len: int, vocab: int):
    """A seeded sample of ``n`` reviews of a split (the stored splits are sorted by label)."""
    x, y = load_split(path, vocab_size=vocab, seq_len=seq_len, padding="pre", truncating="pre")
    idx = np.random.default_rng(seed).permutation(len(y))[:n]
    return x[idx], y[idx]


def build(kind: str, *, vocab: int, seq_len: int):
    """A small LSTM or one-block transformer, sigmoid head."""
    inputs = keras.Input((seq_len,), dtype="int32")
    x = layers.Embedding(vocab, 32)(inputs)
    if kind == "lstm":
        x = layers.LSTM(32)(x)
    else:
        att = layers.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
        x = layers.LayerNormalization()(x + att)
        x = layers.LayerNormalization()(x + layers.Dense(32)(layers.Dense(64, "relu")(x)))
        x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


def train(args: argparse.Namespace) -> None:
    """One seeded run; writes ``OUT/<label>.npz``."""
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    shape = {"seq_len": args.seq_len, "vocab": 10000}
    x, y = sample(args.vectorized / "train.npz", args.rows, seed=1, **shape)
    xv, yv = sample(args.vectorized / "val.npz", 2000, seed=2, **shape)
    model = build(args.model, vocab=10000, seq_len=args.seq_len)
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)
    timer = EpochTimer()
    model.fit(x, y, batch_size=64, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[timer])
    prob = model.predict(xv, batch_size=256, verbose=0)[:, 0].astype(np.float64)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / f"{args.label}.npz", prob=prob, label=yv, seconds=timer.seconds, **weights)
    acc = float(np.mean((prob >= 0.5) == yv))
    log.info("%s: accuracy %.4f, epoch seconds %s", args.label, acc, timer.seconds)


def _same(run, other) -> bool:
    """Whether two runs have bitwise-identical weights and probabilities."""
    keys = [k for k in run.files if k.startswith("w")] + ["prob"]
    return all(np.array_equal(run[k], other[k]) for k in keys)


def compare(out: Path, ref: str) -> None:
    """One JSON line per run: its distance from the reference run, and its bitwise twins."""
    runs = {path.stem: np.load(path) for path in sorted(out.glob("*.npz"))}
    base = runs[ref]
    for name, run in runs.items():
        wkeys = [k for k in run.files if k.startswith("w")]
        pred, bpred = run["prob"] >= 0.5, base["prob"] >= 0.5
        row = {
            "run": name,
            "identical_to": [other for other in runs if other != name and _same(run, runs[other])],
            "max_dw": max(float(np.max(np.abs(run[k] - base[k]))) for k in wkeys),
            "max_dprob": float(np.max(np.abs(run["prob"] - base["prob"]))),
            "accuracy": float(np.mean(pred == run["label"])),
            "flipped": int(np.sum(pred != bpred)),
            "fp": int(np.sum(pred & (run["label"] == 0))),
            "fn": int(np.sum(~pred & (run["label"] == 1))),
            "epoch_seconds": [round(float(s), 2) for s in run["seconds"]],
        }
        print(json.dumps(row))  # noqa: T201 - the table is this tool's output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", help="the run's name: OUT/<label>.npz (to train)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", choices=("lstm", "transformer"), default="lstm")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--ref", default="default")
    parser.add_argument("--vectorized", type=Path, default=PREPARED_DIR / "vectorized",
                        help="the vectorize stage's output (default: %(default)s)")
    args = parser.parse_args()
    if not args.compare and not args.label:
        parser.error("--label is needed to train")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.compare:
        compare(args.out, args.ref)
    else:
        train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
