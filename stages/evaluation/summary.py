"""``metrics/summary.md``: the sentiment leaderboard with intervals and pairwise tests, the
reference numbers, and the translators, as markdown tables of formatted cells."""

from __future__ import annotations

import math

import pandas as pd

from stages.common.constants import CHAMPION_ALIAS, REGISTERED_MODEL
from stages.families.registry import CONFUSION, Reference

# The champion is chosen on the validation split, never on the test set it is reported on.
SELECTION_KEY = "best_val_accuracy"
BOOTSTRAP_SEED = 1337


def format_pvalue(pvalue: float) -> str:
    """Two significant digits; below float64's range (binomtest returns 0) as ``< 1e-300``."""
    return "< 1e-300" if pvalue < 1e-300 else f"{pvalue:.2g}"


def leaderboard(
    sentiment: dict[str, dict[str, float]], refs: dict[str, Reference], champion: str
) -> pd.DataFrame:
    """One formatted row per sentiment family, by test accuracy (best first)."""
    order = sorted(sentiment, key=lambda family: -sentiment[family]["accuracy"])
    rows = []
    for rank, family in enumerate(order, start=1):
        m, ref = sentiment[family], refs[family]
        rows.append({
            "rank": rank,
            "family": f"{family} (champion)" if family == champion else family,
            "accuracy": f"{m['accuracy']:.5f}",
            "95 % CI": f"{m['ci_low']:.4f}-{m['ci_high']:.4f}",
            "F1": f"{m['f1']:.4f}",
            "ROC AUC": f"{m['roc_auc']:.4f}",
            **{key: f"{int(m[key]):,}" for key in CONFUSION},
            "val. accuracy": "—" if math.isnan(m[SELECTION_KEY]) else f"{m[SELECTION_KEY]:.4f}",
            "training s": f"{m['training_seconds']:,.1f}",
            "parameters": f"{int(m['param_count']):,}",
            "reference": ref.anchor,
            "vs reference": f"{m['accuracy'] - ref.accuracy:+.5f}",
        })
    return pd.DataFrame(rows)


def references_table(
    sentiment: dict[str, dict[str, float]], refs: dict[str, Reference]
) -> pd.DataFrame:
    """Source, reference and this run's test accuracy (and confusion where the source has one)."""
    def counts(c: dict) -> str:
        return " / ".join(f"{key} {int(c[key]):,}" for key in CONFUSION)

    rows = []
    for family, ref in refs.items():
        m = sentiment[family]
        ours = f"{m['accuracy']:.5f}" + (f"; {counts(m)}" if ref.confusion else "")
        theirs = ref.anchor + (f"; {counts(ref.confusion)}" if ref.confusion else "")
        rows.append({"family": family, "source": ref.source, "reference": theirs,
                     "this run": ours})
    return pd.DataFrame(rows)


def translation_table(
    translation: dict[str, dict[str, float]], refs: dict[str, Reference]
) -> pd.DataFrame:
    """Exact match, character accuracy and final training loss per translator family."""
    return pd.DataFrame([
        {
            "family": family,
            "exact match": f"{m['exact_match']:.4f}",
            "char accuracy": f"{m['char_accuracy']:.4f}",
            "final training loss": f"{m['loss']:.4f}",
            "reference": refs[family].anchor,
            "vs reference": f"{m['exact_match'] - refs[family].accuracy:+.4f}",
        }
        for family, m in translation.items()
    ])


def to_markdown(frame: pd.DataFrame, *, text_columns: tuple[str, ...]) -> str:
    """A pipe table of already formatted cells: numbers right-aligned, as written."""
    align = ["left" if column in text_columns else "right" for column in frame.columns]
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def render_summary(
    sentiment: dict[str, dict[str, float]],
    translation: dict[str, dict[str, float]],
    refs: dict[str, dict[str, Reference]],
    champion: str,
    pairs: pd.DataFrame,
) -> str:
    """``metrics/summary.md``: leaderboard, champion, pairwise tests, reference numbers,
    translators."""
    n_test = {int(sum(m[key] for key in CONFUSION)) for m in sentiment.values()}
    best_test = max(sentiment, key=lambda family: sentiment[family]["accuracy"])
    lines = [
        "# Model comparison",
        "",
        "Written by the `compare` stage from each family's test predictions",
        "(`metrics/predictions/`), history (`metrics/history/`) and translator metrics;",
        "reference numbers from the family modules (`stages/families/`).",
        "Figure: `metrics/plots/comparison.png`.",
        "",
        "## Sentiment families",
        "",
        f"Test set: {' / '.join(f'{n:,}' for n in sorted(n_test))} reviews. Sorted by test "
        "accuracy; `val. accuracy` is the validation accuracy of the kept weights; `training s` "
        "is the wall time of training; `vs reference` is test accuracy minus the reference "
        "accuracy.",
        "",
        to_markdown(leaderboard(sentiment, refs["sentiment"], champion),
                    text_columns=("family", "reference")),
        "",
        f"**Champion: `{champion}`** (validation accuracy "
        f"{sentiment[champion][SELECTION_KEY]:.4f}), registered in MLflow as "
        f"`{REGISTERED_MODEL}@{CHAMPION_ALIAS}`. The champion is chosen by validation accuracy: "
        "choosing by test accuracy would be a reporting choice that makes the winner's test "
        "score optimistic. The validation reviews come from the same movies as the training "
        "reviews, so validation accuracies tend to run above test accuracies."
        + ("" if sentiment[best_test]["accuracy"] == sentiment[champion]["accuracy"] else
           f" The best test accuracy is `{best_test}`'s."),
        "",
        "### Is the difference real? McNemar's exact test on the same test reviews",
        "",
        "`95 % CI` above is a seeded percentile bootstrap over the test reviews "
        f"(seed {BOOTSTRAP_SEED}). Two families differ beyond noise when the p-value is below "
        "0.05.",
        "",
        to_markdown(pairs, text_columns=("A", "B", "different at 0.05")),
        "",
        "### Reference numbers",
        "",
        to_markdown(references_table(sentiment, refs["sentiment"]),
                    text_columns=("family", "source", "reference", "this run")),
        "",
        "## Translators (EN -> KO, characters)",
        "",
        "Greedy decoding of every training pair: memorization, there is no held-out split.",
        "",
        to_markdown(translation_table(translation, refs["translation"]),
                    text_columns=("family", "reference")),
    ]
    return "\n".join(lines) + "\n"
