"""Logging set-up, called once from each stage's ``main()``."""

from __future__ import annotations

import logging


def setup_logging(level: int = logging.INFO) -> None:
    """Log ``time level module: message`` lines to stderr."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
