"""The ``seq2seq_attention`` translator family: ``seq2seq`` plus dot-product attention over the
encoder outputs; training, inference models and decoding are ``seq2seq``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stages.families.registry import Reference
from stages.families.seq2seq import (  # noqa: F401 (the family's interface, shared)
    INPUTS,
    KIND,
    Params,
    build_encoder_decoder,
    compile_model,
    greedy_decode,
    inference_models,
)

if TYPE_CHECKING:
    import keras

REFERENCE = Reference(
    source="course slides, + dot attention over the encoder outputs",
    anchor="110/110 exact",
    accuracy=1.0,
)


def build(cfg: Params, *, vocab_size: int) -> keras.Model:
    """As ``seq2seq``'s, plus dot-product attention over the encoder outputs."""
    return build_encoder_decoder(cfg, vocab_size, attention=True)
