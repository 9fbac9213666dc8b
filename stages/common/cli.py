"""The one entry point of every stage: parse, set up logging, run, turn a ``StageError`` into
one line and exit status 1."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterable

from stages.common.errors import StageError
from stages.common.logs import setup_logging


def stage_main(
    name: str,
    run: Callable[[argparse.Namespace], object],
    argv: list[str] | None = None,
    *,
    doc: str | None = None,
    arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Run stage ``name``: ``run(args)`` with the arguments ``arguments`` declares.

    ``name`` may name arguments (``"train@{family}"``); the formatted name labels the log lines.

    Returns:
        0 on success, 1 after logging a ``StageError`` as one line (other exceptions are bugs
        and keep their traceback).
    """
    parser = argparse.ArgumentParser(description=(doc or name).splitlines()[0])
    if arguments is not None:
        arguments(parser)
    args = parser.parse_args(argv)
    setup_logging()
    log = logging.getLogger(name.format(**vars(args)))
    log.info("start")
    start = time.perf_counter()
    try:
        run(args)
    except StageError as exc:
        log.error("%s", exc)
        return 1
    log.info("done in %.1f s", time.perf_counter() - start)
    return 0


def family_argument(choices: Iterable[str]) -> Callable[[argparse.ArgumentParser], None]:
    """``arguments`` for a family stage: the required ``--family`` DVC's foreach passes."""
    return lambda parser: parser.add_argument("--family", required=True, choices=sorted(choices))
