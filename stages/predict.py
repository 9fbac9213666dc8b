"""Use the trained models from the command line.

``python -m stages.predict translate WORD [WORD ...] [--family seq2seq]`` prints
``english<TAB>korean`` per word, translated by greedy decoding with ``models/<family>/``.
Exit status: 0 on success, 1 when the model is missing, 2 for words the model cannot read.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stages.common.charvocab import CharVocab, VocabError
from stages.common.logs import setup_logging
from stages.common.paths import MODELS_DIR

log = logging.getLogger(__name__)

TRANSLATORS = ("seq2seq", "seq2seq_attention")


class ModelNotFoundError(ValueError):
    """The trained model directory is missing."""


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

    from stages.models.seq2seq import greedy_decode, inference_models

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


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per task; each sets ``handler`` to the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="python -m stages.predict", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tr = commands.add_parser("translate", help="translate English words to Korean")
    tr.add_argument("words", nargs="+", metavar="WORD", help="English words (letters a-z)")
    tr.add_argument("--family", choices=TRANSLATORS, default="seq2seq_attention")
    tr.add_argument("--models-dir", type=Path, default=MODELS_DIR, help=argparse.SUPPRESS)
    tr.set_defaults(handler=_translate_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
