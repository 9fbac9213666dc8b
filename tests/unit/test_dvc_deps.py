"""Every stage declares exactly the project modules its command imports, each sentiment family
exactly the prepared data its registry entry reads, and the data and compare stages import no
Keras."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stages.models import registry
from tests.conftest import REPO_ROOT

DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
DATA_INPUTS = {"vectorized": "data/prepared/vectorized", "embeddings":
               "data/prepared/embeddings.npy", "imdb": "data/prepared/imdb"}
# Stages that train no Keras model: importing Keras/TensorFlow would cost each run seconds.
KERAS_FREE_STAGES = ("embeddings", "compare", "prepare_imdb", "download", "tokenize_translate")


def module_file(name: str) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None."""
    base = REPO_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_files(module: str) -> set[str]:
    """Repo-relative files of ``module`` and every project module it imports, transitively
    (imports inside functions included), with the packages they live in."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("stages")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages"):
                todo.append(node.module)
                todo += [f"{node.module}.{a.name}" for a in node.names]
    return {p.relative_to(REPO_ROOT).as_posix() for p in seen}


def stage_items() -> list[tuple[str, dict]]:
    """``(name, definition)`` of every stage; a foreach stage once (its ``do``)."""
    return [(name, stage.get("do", stage)) for name, stage in DVC_YAML["stages"].items()]


@pytest.mark.parametrize(("name", "stage"), stage_items(), ids=[n for n, _ in stage_items()])
def test_code_deps_are_exactly_the_imported_modules(name: str, stage: dict) -> None:
    module = stage["cmd"].split()[2]  # python -m stages.<module> ...
    declared = {d for d in stage["deps"] if isinstance(d, str) and d.endswith(".py")}
    assert declared == imported_files(module)


def test_each_family_depends_on_the_data_its_registry_entry_reads() -> None:
    families = DVC_YAML["vars"][0]["sentiment"]
    assert list(families) == registry.sentiment_families()
    for family, item in families.items():
        expected = {DATA_INPUTS[name] for name in registry.spec(family).inputs}
        assert {item["data"], item["more"]} == expected, family


def test_data_and_compare_stages_import_no_keras() -> None:
    imports = ", ".join(f"stages.{stage}" for stage in KERAS_FREE_STAGES)
    script = (f"import {imports}; import sys; "
              "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"
