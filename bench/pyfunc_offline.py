"""Time scoring the 25,000 test reviews through ``mlflow.pyfunc``, per family.

Each family's ``models/<family>/`` is logged with this checkout's code into a temporary store
(``bench/family_model.py``), loaded with ``mlflow.pyfunc.load_model`` and asked to score
``data/prepared/imdb/test.parquet`` in one ``predict`` call, ``--runs`` times; the predictions
must reproduce the confusion counts of ``metrics/<family>.json`` exactly. For ``transformer`` the
bench also times the two parts of a predict apart, the encoder (raw text -> token ids) and the
forward pass (the ids through the model's traced function), and sets the forward pass beside
its arithmetic: FLOPs per review counted from the architecture in ``params.yaml`` (matrix
products only; embeddings, softmax and norms are a few percent), GFLOP/s achieved, and the
share of the machine's FP32 peak (``--peak-gflops``; default cores x 32 FLOP a cycle, two
256-bit FMA pipes of 8 lanes, x the clock ``/proc/cpuinfo`` gives). Prints markdown tables.
Usage::

    .venv/bin/python -m bench.pyfunc_offline [--families nbsvm tfidf_logreg transformer]
        [--runs 3] [--peak-gflops GFLOPS]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd

from bench.family_model import family_model_uri
from stages.evaluation.metrics import compute_metrics
from stages.families.registry import load_params
from stages.models.serving import load_text_model

REPO = Path(__file__).resolve().parents[1]

TEST_SPLIT = REPO / "data" / "prepared" / "imdb" / "test.parquet"
CONFUSION_KEYS = ("accuracy", "tn", "fp", "fn", "tp")
FLOP_PER_CYCLE = 32  # per core: 2 FMA pipes x 8 FP32 lanes x 2 FLOP
log = logging.getLogger("bench")


def peak_gflops() -> float:
    """Cores x ``FLOP_PER_CYCLE`` x GHz (the first ``cpu MHz`` of ``/proc/cpuinfo``)."""
    text = Path("/proc/cpuinfo").read_text()
    mhz = float(next(line for line in text.splitlines() if line.startswith("cpu MHz"))
                .split(":")[1])
    return (os.cpu_count() or 1) * FLOP_PER_CYCLE * mhz / 1e3


def transformer_flops(cfg) -> float:
    """Multiply-adds x 2 of one review through the encoder block (the matrix products)."""
    length, width, heads, ff = cfg.seq_len, cfg.embed_dim, cfg.num_heads, cfg.ff_dim
    key = width // heads
    projections = 2 * length * width * heads * key * 4  # query, key, value, output
    attention = 2 * 2 * length * length * key * heads  # scores, then the weighted values
    feed_forward = 2 * 2 * length * width * ff
    return float(projections + attention + feed_forward)


def timed(func, *args):
    start = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - start


def score_family(family: str, texts: list[str], labels, runs: int, workdir: Path) -> dict:
    """Load and predict seconds (median of ``runs``) and whether the metrics are reproduced."""
    model_uri, store = family_model_uri(family, workdir)
    mlflow.set_tracking_uri(store)
    loads, predicts, reviews = [], [], pd.DataFrame({"review": texts})
    for _ in range(runs):
        model, load_s = timed(mlflow.pyfunc.load_model, model_uri)
        frame, predict_s = timed(model.predict, reviews)
        loads.append(load_s)
        predicts.append(predict_s)
        log.info("%s: load %.2f s, predict %.2f s", family, load_s, predict_s)
    ours = compute_metrics(labels, frame["probability"].to_numpy())
    stage = json.loads((REPO / "metrics" / f"{family}.json").read_text())
    exact = all(ours[k] == stage[k] for k in CONFUSION_KEYS)
    predict_s = statistics.median(predicts)
    return {"family": family, "load s": statistics.median(loads), "predict s": predict_s,
            "reviews/s": len(texts) / predict_s, "metrics reproduced": exact}


def transformer_parts(texts: list[str], runs: int, peak: float) -> dict:
    """Encoder and forward-pass seconds of ``models/transformer`` and the forward's GFLOP/s."""
    text_model = load_text_model(REPO / "models" / "transformer")
    encode, forward = [], []
    for _ in range(runs):
        ids, encode_s = timed(text_model.encoder.transform, texts)
        _, forward_s = timed(text_model.model.predict_proba, ids)
        encode.append(encode_s)
        forward.append(forward_s)
    flops = transformer_flops(load_params().train["transformer"]) * len(texts)
    forward_s = statistics.median(forward)
    return {"encoder s": statistics.median(encode), "forward s": forward_s,
            "GFLOP": flops / 1e9, "GFLOP/s": flops / 1e9 / forward_s,
            "share of peak": flops / 1e9 / forward_s / peak,
            "forward at peak s": flops / 1e9 / peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["nbsvm", "tfidf_logreg",
                                                          "transformer"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peak-gflops", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    test = pd.read_parquet(TEST_SPLIT)
    texts, labels = test["text"].tolist(), test["label"].to_numpy()
    rows = []
    for family in args.families:
        with tempfile.TemporaryDirectory() as workdir:
            rows.append(score_family(family, texts, labels, args.runs, Path(workdir)))
    sys.stdout.write(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f") + "\n")
    if "transformer" in args.families:
        parts = transformer_parts(texts, args.runs, args.peak_gflops or peak_gflops())
        sys.stdout.write("\n" + pd.DataFrame([parts]).to_markdown(index=False, floatfmt=".2f")
                         + "\n")
    return 0 if all(row["metrics reproduced"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
