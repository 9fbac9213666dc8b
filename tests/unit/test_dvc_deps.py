"""Every stage depends on exactly the project code it runs, and each family exactly on the
prepared data its module reads; the data and compare stages import no Keras.

A stage's code is what its module imports, transitively, plus what the registry imports by name:
for a training stage its family's module and its kind's fit loop, for ``compare`` every family's
module (their references). Directory deps
count as the ``.py`` files under them; ``stages/common`` (the infrastructure every stage runs) is
the one directory a stage may declare without importing all of it. Docstring-only package
``__init__.py`` files are not code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from stages.families import registry
from tests.conftest import REPO_ROOT

DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
DATA_INPUTS = {"vectorized": "data/prepared/vectorized", "embeddings":
               "data/prepared/embeddings.npy", "imdb": "data/prepared/imdb"}
CORE = "stages/common"
# Stages that train no Keras model: importing Keras/TensorFlow would cost each run seconds.
KERAS_FREE_STAGES = ("embeddings", "compare", "prepare_imdb", "download", "tokenize_translate")


def module_file(name: str) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None."""
    base = REPO_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def is_code(path: Path) -> bool:
    """False for a package ``__init__.py`` that holds only its docstring."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return not (len(body) <= 1 and all(isinstance(node, ast.Expr) for node in body))


@cache
def imported_files(module: str) -> frozenset[str]:
    """Repo-relative code files of ``module`` and every project module it imports,
    transitively (imports inside functions included), with the packages they live in."""
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
    return frozenset(p.relative_to(REPO_ROOT).as_posix() for p in seen if is_code(p))


def declared_files(deps: list[str]) -> set[str]:
    """The code files of ``deps``: ``.py`` files, and those under directory deps."""
    files = set()
    for dep in (REPO_ROOT / d for d in deps if d.startswith("stages/")):
        paths = sorted(dep.rglob("*.py")) if dep.is_dir() else [dep]
        files |= {p.relative_to(REPO_ROOT).as_posix() for p in paths
                  if p.suffix == ".py" and is_code(p)}
    return files


def resolved_stages() -> dict[str, dict]:
    """``name -> definition`` of every stage, foreach stages resolved per family as DVC does."""
    stages = {}
    for name, stage in DVC_YAML["stages"].items():
        if "foreach" not in stage:
            stages[name] = stage
            continue
        items = {**PARAMS, **DVC_YAML["vars"][0]}[stage["foreach"].strip("${}")]
        for family, item in items.items():
            text = yaml.safe_dump(stage["do"])
            for key, value in {"key": family, **{f"item.{k}": v for k, v in item.items()}}.items():
                text = text.replace(f"${{{key}}}", str(value))
            stages[f"{name}@{family}"] = yaml.safe_load(text)
    return stages


STAGES = resolved_stages()


def runs(name: str, stage: dict) -> set[str]:
    """The code a stage runs: its module's imports, plus its family's module and fit loop."""
    code = set(imported_files(stage["cmd"].split()[2]))  # python -m stages.<module> ...
    if "@" in name:
        spec = registry.spec(name.split("@", 1)[1])
        code |= imported_files(spec.module) | imported_files(registry.TRAINERS[spec.kind])
    if name == "compare":
        for family in registry.modules():
            code |= imported_files(registry.spec(family).module)
    return code


@pytest.mark.parametrize("name", STAGES)
def test_code_deps_are_exactly_the_code_the_stage_runs(name: str) -> None:
    declared, code = declared_files(STAGES[name]["deps"]), runs(name, STAGES[name])
    assert sorted(code - declared) == [], "run but not declared"
    unused = sorted(f for f in declared - code if not f.startswith(f"{CORE}/"))
    assert unused == [], "declared but not run"


def test_each_family_depends_on_the_data_its_module_reads() -> None:
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
