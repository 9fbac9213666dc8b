"""Use the trained models from the command line.

``nlp-predict sentiment [--family lstm] [--format text|csv|json] REVIEW ...`` (or
``--file PATH``, or ``-`` for stdin: one review per line) prints the label (``pos``/``neg``) and
P(positive) of each review, scored by the raw-text model of ``models/<family>/`` (its encoder
holds the training stage's own tokenization); ``--family champion`` uses the MLflow model
``imdb-sentiment@champion``, which carries its own.
``nlp-predict translate WORD [WORD ...] [--family seq2seq]`` prints
``english<TAB>korean`` per word, translated by greedy decoding with ``models/<family>/``.
Exit status: 0 on success, 1 when the model is missing, 2 for input the command cannot read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stages.common.constants import THRESHOLD
from stages.common.logs import setup_logging
from stages.common.paths import MODELS_DIR
from stages.data.charvocab import CharVocab, VocabError
from stages.families import registry

log = logging.getLogger(__spec__.name)  # its module name under `python -m` too

CHAMPION = "champion"
TEXT_WIDTH = 70  # characters of a review shown by --format text


class ModelNotFoundError(ValueError):
    """The trained model directory is missing."""


class InputError(ValueError):
    """No reviews to score, or the review file cannot be read."""


def translate(words: list[str], *, family: str, models_dir: Path = MODELS_DIR) -> list[str]:
    """Translate English ``words`` (lowercased) with the trained ``family`` model.

    Raises:
        ModelNotFoundError: ``models_dir/family`` has no trained model.
        VocabError: a word has a character outside a-z or is longer than the model allows.
    """
    model_dir = models_dir / family
    if not (model_dir / "model.keras").is_file():
        raise ModelNotFoundError(
            f"no trained model in {model_dir} (run: dvc repro train_translator@{family})"
        )
    vocab = CharVocab.load(model_dir / "vocab.json")
    tokens = vocab.encode_english(word.lower() for word in words)
    # Imported here so that bad input is rejected without the TensorFlow start-up delay.
    import keras

    from stages.families.seq2seq import greedy_decode, inference_models

    model = keras.models.load_model(model_dir / "model.keras", compile=False)
    encoder, step = inference_models(model)
    ids, _ = greedy_decode(encoder, step, tokens, max_len=vocab.decoder_length)
    return [vocab.decode(row) for row in ids]


def _translate_command(args: argparse.Namespace) -> int:
    try:
        korean = translate(args.words, family=args.family, models_dir=args.models_dir)
    except VocabError as exc:
        log.error("%s", exc)
        return 2
    except ModelNotFoundError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.writelines(f"{en}\t{ko}\n" for en, ko in zip(args.words, korean, strict=True))
    return 0


def read_reviews(reviews: list[str], file: str | None) -> list[tuple[int, str]]:
    """``(line number, review)`` from the arguments, or from ``file``/stdin, one per line.

    File bytes are decoded as UTF-8, invalid bytes replaced; blank lines are skipped.

    Raises:
        InputError: no review, an empty review argument, or an unreadable file.
    """
    if file is not None and reviews:
        raise InputError("give reviews as arguments or with --file, not both")
    if file is None and reviews != ["-"]:
        if not reviews:
            raise InputError("no reviews: pass REVIEW arguments, --file PATH, or - for stdin")
        blank = [i for i, review in enumerate(reviews, start=1) if not review.strip()]
        if blank:
            raise InputError(f"review {blank[0]} is empty")
        return list(enumerate(reviews, start=1))
    source = "stdin" if file in (None, "-") else file
    try:
        data = sys.stdin.buffer.read() if source == "stdin" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from exc
    lines = data.decode("utf-8", errors="replace").removeprefix("\ufeff").split("\n")
    found = [(n, line.removesuffix("\r")) for n, line in enumerate(lines, start=1)]
    found = [(n, line) for n, line in found if line.strip()]
    if not found:
        raise InputError(f"{source}: no reviews (one review per line)")
    return found


def load_family(family: str, models_dir: Path) -> Callable[[list[str]], np.ndarray]:
    """P(positive) per review from the raw-text model of ``models_dir/family``.

    Raises:
        ModelNotFoundError: the family has not been trained.
    """
    from stages.models.serving import is_text_model, load_text_model

    model_dir = models_dir / family
    if not is_text_model(model_dir):
        raise ModelNotFoundError(
            f"no trained model in {model_dir} (run: dvc repro train@{family})"
        )
    return load_text_model(model_dir).predict_proba


def load_champion() -> Callable[[list[str]], np.ndarray]:
    """P(positive) per review from the MLflow model ``imdb-sentiment@champion`` (everything it
    needs travels with it: nothing is read from the workspace).

    Raises:
        ModelNotFoundError: the tracking URI is unusable, or there is no store, registered model
            or alias (the compare stage makes them).
    """
    import pandas as pd

    from stages.models.pyfunc import COLUMN
    from stages.tracking.model_registry import RegistryError
    from stages.tracking.model_registry import load_champion as load_registered

    try:
        model, _ = load_registered()
    except RegistryError as exc:
        raise ModelNotFoundError(str(exc)) from exc

    def probabilities(reviews: list[str]) -> np.ndarray:
        frame = model.predict(pd.DataFrame({COLUMN: reviews}))
        return frame["probability"].to_numpy(dtype=np.float64)

    return probabilities


def format_predictions(rows: list[tuple[int, str]], probabilities: np.ndarray, fmt: str) -> str:
    """``text`` (label, P(positive), review start), ``csv`` or ``json`` (line, label,
    probability, review)."""
    records = [
        {"line": line, "label": "pos" if p >= THRESHOLD else "neg", "probability": float(p),
         "review": review}
        for (line, review), p in zip(rows, probabilities, strict=True)
    ]
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
    lines = []
    for r in records:
        text = " ".join(r["review"].split())
        text = text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 3] + "..."
        lines.append(f"{r['label']}\t{r['probability']:.4f}\t{text}\n")
    return "".join(lines)


def _sentiment_command(args: argparse.Namespace) -> int:
    try:
        rows = read_reviews(args.reviews, args.file)
    except InputError as exc:
        log.error("%s", exc)
        return 2
    try:
        if args.family == CHAMPION:
            score = load_champion()
        else:
            score = load_family(args.family, args.models_dir)
    except ModelNotFoundError as exc:
        log.error("%s", exc)
        return 1
    probabilities = score([review for _, review in rows])
    sys.stdout.write(format_predictions(rows, probabilities, args.format))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per task; each sets ``handler`` to the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="nlp-predict", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translate", help="translate English words to Korean")
    tr.add_argument("words", nargs="+", metavar="WORD", help="English words (letters a-z)")
    tr.add_argument("--family", choices=registry.translator_families(),
                    default="seq2seq_attention")
    tr.add_argument("--models-dir", type=Path, default=MODELS_DIR, help=argparse.SUPPRESS)
    tr.set_defaults(handler=_translate_command)
    se = commands.add_parser("sentiment", help="classify movie reviews as pos/neg")
    se.add_argument("reviews", nargs="*", metavar="REVIEW", help="review texts; - reads stdin")
    se.add_argument("--file", metavar="PATH", help="reviews, one per line (- for stdin)")
    se.add_argument("--family", choices=[*registry.sentiment_families(), CHAMPION],
                    default=CHAMPION, help="trained family, or the MLflow alias %(default)s")
    se.add_argument("--format", choices=("text", "csv", "json"), default="text")
    se.add_argument("--models-dir", type=Path, default=MODELS_DIR, help=argparse.SUPPRESS)
    se.set_defaults(handler=_sentiment_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
