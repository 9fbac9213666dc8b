"""params.yaml, stages/references.yaml, the family registry and dvc.yaml name the same families.

Adding a family means an entry in each; this test says which one is missing.
"""

from __future__ import annotations

import re

import pytest
import yaml
from dvc.repo import Repo

from stages.evaluation.references import load_references
from stages.models import registry
from tests.conftest import REPO_ROOT

PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
SENTIMENT = sorted(registry.sentiment_families())
TRANSLATORS = sorted(registry.translator_families())
# What compare reads of each family (stages/compare.py).
SENTIMENT_DEPS = ("metrics/{f}.json", "metrics/plots/{f}_history.csv",
                  "metrics/predictions/{f}.npz", "models/{f}/run.json", "models/{f}/mlflow.json")
TRANSLATOR_DEPS = ("metrics/{f}.json",)
# A family's file under metrics/plots/ in dvc.yaml's top-level plots.
PLOT_FILE = re.compile(r"^metrics/plots/(\w+)_(history\.csv|confusion\.png)$")


@pytest.fixture(scope="module")
def stage_names() -> list[str]:
    """The resolved stage names (``train@lstm``, ...) as DVC sees them."""
    with Repo(str(REPO_ROOT)) as repo:
        return [stage.addressing for stage in repo.index.stages]


def families_of(stage_names: list[str], prefix: str) -> list[str]:
    return sorted(name.split("@", 1)[1] for name in stage_names if name.startswith(f"{prefix}@"))


def test_the_registry_kinds_cover_every_family() -> None:
    assert sorted(registry.FAMILIES) == sorted(SENTIMENT + TRANSLATORS)


def test_params_yaml_configures_each_family_in_its_section() -> None:
    assert sorted(PARAMS["train"]) == SENTIMENT
    assert sorted(PARAMS["translate"]) == TRANSLATORS
    for family in registry.FAMILIES:
        assert family in PARAMS[registry.spec(family).section], family


def test_references_list_each_family() -> None:
    refs = load_references()
    assert sorted(refs["sentiment"]) == SENTIMENT
    assert sorted(refs["translation"]) == TRANSLATORS


def test_dvc_yaml_vars_and_stages_name_each_family(stage_names: list[str]) -> None:
    assert sorted(DVC_YAML["vars"][0]["sentiment"]) == SENTIMENT
    assert families_of(stage_names, "train") == SENTIMENT
    assert families_of(stage_names, "train_translator") == TRANSLATORS


def test_compare_depends_on_what_it_reads_of_each_family() -> None:
    deps = set(DVC_YAML["stages"]["compare"]["deps"])
    expected = {dep.format(f=f) for f in SENTIMENT for dep in SENTIMENT_DEPS}
    expected |= {dep.format(f=f) for f in TRANSLATORS for dep in TRANSLATOR_DEPS}
    family_deps = {d for d in deps if d.startswith(("metrics/", "models/"))}
    assert family_deps == expected
    assert "stages/references.yaml" in deps


def plot_files() -> list[str]:
    """Every file dvc.yaml's top-level ``plots`` names (entries and their ``y`` keys)."""
    files = []
    for entry in DVC_YAML["plots"]:
        if isinstance(entry, str):
            files.append(entry)
            continue
        ((name, definition),) = entry.items()
        y = (definition or {}).get("y")
        files += list(y) if isinstance(y, dict) else [name]
    return files


def test_plots_show_each_sentiment_family() -> None:
    named: dict[str, set[str]] = {}
    for path in plot_files():
        match = PLOT_FILE.match(path)
        if match:
            named.setdefault(match[1], set()).add(match[2])
    assert sorted(named) == SENTIMENT
    for family, kinds in named.items():
        assert kinds == {"history.csv", "confusion.png"}, family
    entries = {next(iter(e)) for e in DVC_YAML["plots"] if isinstance(e, dict)}
    for family in SENTIMENT:
        assert {f"{family}_accuracy", f"{family}_loss"} <= entries, family
