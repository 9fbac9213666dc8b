"""The one error type a stage turns into a one-line message and exit status 1."""

from __future__ import annotations


class StageError(ValueError):
    """An expected failure: bad input, an unwritable output, an unusable tracking store.

    The message names the file, line, member or key at fault; ``stage_main`` logs it as one
    line and exits 1, without a traceback.
    """
