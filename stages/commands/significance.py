"""Is this change real? One sentiment family's test accuracy at two revisions, with its noise.

Usage::

    nlp-significance FAMILY [--a REV] [--b REV]
    python -m stages.commands.significance FAMILY [--a REV] [--b REV]

``REV`` is a git revision (``HEAD``, ``HEAD~1``, a branch, tag or sha), a DVC experiment name
(``dvc exp show`` lists them; DVC resolves the name to its git ref) or ``workspace`` (the file
on disk). Defaults: ``--a HEAD --b workspace``, i.e. "did my uncommitted change help?".

Inputs: ``metrics/predictions/<FAMILY>.npz`` (the training stage's test-set predictions) at
both revisions, read with ``dvc.api.open``. Logs both accuracies, the difference B - A with its
95 % paired bootstrap interval, McNemar's exact p-value and a verdict at the 0.05 level. The
two files must score the same test reviews (equal ``label`` arrays).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import dvc.api
import numpy as np
from dvc.exceptions import PathMissingError
from dvc.scm import RevError

from stages.common.cli import stage_main
from stages.common.errors import StageError
from stages.evaluation.predictions import parse_predictions, predictions_path
from stages.evaluation.stats import (
    McNemarResult,
    PairedDifference,
    correctness,
    mcnemar,
    paired_difference,
)

log = logging.getLogger(__spec__.name)  # its module name under `python -m` too

WORKSPACE = "workspace"
ALPHA = 0.05
# Fixed, so the same two files always give the same interval.
BOOTSTRAP_SEED = 0


class SignificanceError(StageError):
    """The two predictions files cannot be compared."""


class UnknownRevisionError(SignificanceError):
    """A revision is neither a git revision nor a DVC experiment name."""


class MissingPredictionsError(SignificanceError):
    """The predictions file does not exist at a revision."""


class DifferentTestSetsError(SignificanceError):
    """The two files score different test reviews."""


@dataclass(frozen=True)
class Comparison:
    """Family ``family`` at revisions ``a`` and ``b`` on the same ``n`` test reviews."""

    family: str
    a: str
    b: str
    n: int
    difference: PairedDifference
    test: McNemarResult

    @property
    def significant(self) -> bool:
        """Whether McNemar's test rejects "equally accurate" at ``ALPHA``."""
        return self.test.pvalue < ALPHA


def read_predictions(repo: Path, path: Path, rev: str) -> tuple[np.ndarray, np.ndarray]:
    """``(label, probability)`` of ``path`` at ``rev`` (``workspace``: the file on disk).

    Raises:
        UnknownRevisionError: DVC cannot resolve ``rev``.
        MissingPredictionsError: ``path`` does not exist there.
        PredictionsFormatError: the file breaks the predictions contract.
    """
    if rev == WORKSPACE:
        try:
            data = (repo / path).read_bytes()
        except FileNotFoundError:
            raise MissingPredictionsError(f"{path}: no such file in the workspace") from None
    else:
        try:
            with dvc.api.open(str(path), repo=str(repo), rev=rev, mode="rb") as fh:
                data = fh.read()
        except RevError:
            raise UnknownRevisionError(
                f"{rev!r} is neither a git revision nor a DVC experiment name"
            ) from None
        except PathMissingError:
            raise MissingPredictionsError(f"{path} does not exist at revision {rev!r}") from None
    return parse_predictions(data, source=f"{path}@{rev}")


def check_same_reviews(path: Path, revs: tuple[str, str], labels: tuple[np.ndarray, ...]) -> None:
    """Raise ``DifferentTestSetsError`` unless both label arrays are equal."""
    (a, b), (label_a, label_b) = revs, labels
    if len(label_a) != len(label_b):
        raise DifferentTestSetsError(
            f"{path}: different test sets, {len(label_a)} reviews at {a!r} and "
            f"{len(label_b)} at {b!r}"
        )
    differing = int(np.sum(label_a != label_b))
    if differing:
        raise DifferentTestSetsError(
            f"{path}: different test sets, the labels of {differing} of {len(label_a)} reviews "
            f"differ between {a!r} and {b!r}"
        )


def compare_revisions(family: str, *, a: str, b: str, repo: Path) -> Comparison:
    """Paired accuracy difference and McNemar's test of one family between two revisions."""
    path = predictions_path(family)
    label_a, prob_a = read_predictions(repo, path, a)
    label_b, prob_b = read_predictions(repo, path, b)
    check_same_reviews(path, (a, b), (label_a, label_b))
    difference = paired_difference(label_a, prob_a, prob_b, seed=BOOTSTRAP_SEED)
    test = mcnemar(correctness(label_a, prob_a), correctness(label_b, prob_b))
    return Comparison(family, a, b, len(label_a), difference, test)


def report_lines(result: Comparison) -> list[str]:
    """The human-readable answer, one fact per line."""
    d, t = result.difference, result.test
    verdict = (
        f"significant at {ALPHA}: {result.b if d.difference > 0 else result.a} is more accurate"
        if result.significant
        else f"not significant at {ALPHA}: the difference is within the test-set noise"
    )
    return [
        f"{result.family} on {result.n} test reviews",
        f"A {result.a}: accuracy {d.accuracy_a:.5f}",
        f"B {result.b}: accuracy {d.accuracy_b:.5f}",
        f"B - A: {d.difference:+.5f}, 95 % paired bootstrap interval "
        f"[{d.low:+.5f}, {d.high:+.5f}]",
        f"McNemar exact test: {t.only_a} reviews only A gets right, {t.only_b} only B, "
        f"p = {t.pvalue:.4g}",
        verdict,
    ]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", help="sentiment family, e.g. lstm")
    parser.add_argument("--a", default="HEAD", help="baseline revision (default HEAD)")
    parser.add_argument("--b", default=WORKSPACE, help="compared revision (default workspace)")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repo root (default .)")


def _run(args: argparse.Namespace) -> None:
    result = compare_revisions(args.family, a=args.a, b=args.b, repo=args.repo)
    for line in report_lines(result):
        log.info("%s", line)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nlp-significance`` and ``python -m stages.commands.significance``."""
    return stage_main("significance", _run, argv, doc=__doc__, arguments=_arguments)

if __name__ == "__main__":
    raise SystemExit(main())
