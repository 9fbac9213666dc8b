"""params.yaml, stages/references.yaml, the family registry and dvc.yaml name the same families.

Adding a family means an entry in each; this test says which one is missing.
"""

from __future__ import annotations

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


def test_plots_show_each_sentiment_family() -> None:
    """Each family's training curves at the top level, its confusion matrix from its stage, and
    the validation accuracy of every family that validates (not the seed protocol's)."""
    entries = [next(iter(e.items())) if isinstance(e, dict) else (e, {})
               for e in DVC_YAML["plots"]]
    curves = {path: spec for path, spec in entries if path.endswith("_history.csv")}
    assert sorted(curves) == sorted(f"metrics/plots/{f}_history.csv" for f in SENTIMENT)
    assert all(spec["x"] == "epoch" and "accuracy" in spec["y"] for spec in curves.values())
    validating = [f for f in SENTIMENT if "val_accuracy" in curves[
        f"metrics/plots/{f}_history.csv"]["y"]]
    (validation,) = [spec for path, spec in entries if path == "validation_accuracy"]
    assert sorted(validation["y"]) == sorted(f"metrics/plots/{f}_history.csv" for f in validating)
    stage_plots = DVC_YAML["stages"]["train"]["do"]["plots"]
    assert [next(iter(p)) for p in stage_plots] == ["metrics/plots/${key}_confusion.png"]
