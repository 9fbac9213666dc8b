"""A family is named in one place: its module in stages/families/, its params.yaml section and,
for a sentiment family, its one line in dvc.yaml's ``vars``. These say which one is missing;
nothing else (compare's deps, the plots, the references) lists the families.
"""

from __future__ import annotations

import ast
import re

import pytest
import yaml
from dvc.repo import Repo

from stages.families import registry
from tests.conftest import REPO_ROOT

PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
SENTIMENT = registry.sentiment_families()
TRANSLATORS = registry.translator_families()
# The floors below the families: none of them may import stages.families.
LOWER_FLOORS = ("stages/common", "stages/data", "stages/models", "stages/tracking")


@pytest.fixture(scope="module")
def stage_names() -> list[str]:
    """The resolved stage names (``train@lstm``, ...) as DVC sees them."""
    with Repo(str(REPO_ROOT)) as repo:
        return [stage.addressing for stage in repo.index.stages]


def families_of(stage_names: list[str], prefix: str) -> list[str]:
    return [name.split("@", 1)[1] for name in stage_names if name.startswith(f"{prefix}@")]


def test_the_configured_families_are_the_family_modules() -> None:
    assert sorted(SENTIMENT + TRANSLATORS) == registry.modules()
    assert SENTIMENT == list(PARAMS["train"]) and TRANSLATORS == list(PARAMS["translate"])


@pytest.mark.parametrize("family", registry.modules())
def test_each_module_is_a_whole_family_in_its_section(family: str) -> None:
    spec = registry.spec(family)
    assert family in PARAMS[spec.section]
    assert isinstance(spec.reference, registry.Reference)
    assert spec.inputs and callable(spec.builder) and isinstance(spec.params, type)
    if spec.kind in registry.SENTIMENT_KINDS:
        assert callable(spec.features)


def test_an_unknown_family_lists_the_modules() -> None:
    message = f"no model family 'gru' (known: {', '.join(registry.modules())})"
    with pytest.raises(registry.ParamsError, match=re.escape(message)):
        registry.spec("gru")


def test_dvc_yaml_has_one_line_and_one_stage_per_family(stage_names: list[str]) -> None:
    assert list(DVC_YAML["vars"][0]["sentiment"]) == SENTIMENT
    assert sorted(families_of(stage_names, "train")) == sorted(SENTIMENT)
    assert sorted(families_of(stage_names, "train_translator")) == sorted(TRANSLATORS)


def test_compare_and_the_plots_name_no_sentiment_family() -> None:
    compare = yaml.safe_dump(DVC_YAML["stages"]["compare"])
    plots = yaml.safe_dump(DVC_YAML["plots"])
    assert [f for f in SENTIMENT if f in compare or f in plots] == []
    assert {"metrics/predictions", "metrics/history", "models"} <= set(
        DVC_YAML["stages"]["compare"]["deps"])


def test_compare_depends_on_every_training_stage_through_its_directories() -> None:
    with Repo(str(REPO_ROOT)) as repo:
        graph = repo.index.graph
        (compare,) = [s for s in graph if s.addressing == "compare"]
        upstream = {stage.addressing for stage in graph.successors(compare)}
    expected = {f"train@{f}" for f in SENTIMENT} | {f"train_translator@{f}" for f in TRANSLATORS}
    assert expected <= upstream


@pytest.mark.parametrize("floor", LOWER_FLOORS)
def test_the_dependency_points_down_from_the_families(floor: str) -> None:
    """The families build on the fit loops, layers and data code, never the reverse."""
    upward = []
    for path in sorted((REPO_ROOT / floor).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            upward += [f"{path.relative_to(REPO_ROOT)}: {n}" for n in names
                       if n.startswith("stages.families")]
    assert upward == []
