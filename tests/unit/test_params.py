"""The params loader rejects bad params.yaml content with a message naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stages.common.params import ParamsError, load_params, parse_params
from tests.conftest import REPO_ROOT


@pytest.fixture
def raw() -> dict:
    with open(REPO_ROOT / "params.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_repo_params_load(raw: dict) -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.base.seed == raw["base"]["seed"]
    assert params.base.glove_dim == 50
    assert set(params.train) == set(raw["train"])
    assert set(params.translate) == set(raw["translate"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["base"].update(color="red"), "params: base.color: unknown key"),
        (lambda r: r.update(extra={}), "params: extra: unknown section"),
        (lambda r: r["base"].pop("seed"), "params: base.seed: missing key"),
        (lambda r: r["base"].update(seed="1"), "params: base.seed: must be an integer, got '1'"),
        (lambda r: r["base"].update(seed=True), "params: base.seed: must be an integer, got True"),
        (lambda r: r["base"].update(glove_dim=64), "params: base.glove_dim: must be one of"),
        (lambda r: r["prepare_imdb"].update(val_fraction=1.5),
         "params: prepare_imdb.val_fraction: must be in (0, 1), got 1.5"),
        (lambda r: r["embeddings"].update(oov="glove"), "params: embeddings.oov: must be one of"),
        (
            lambda r: r["train"]["lstm"].update(strategy="tpu"),
            "params: train.lstm.strategy: must be one of ['default', 'mirrored'], got 'tpu'",
        ),
        (lambda r: r["train"].update(bert={}), "params: train.bert: unknown family"),
        (lambda r: r["translate"].update(gpt={}), "params: translate.gpt: unknown family"),
    ],
)
def test_invalid_params_name_the_key(raw: dict, edit, message: str) -> None:
    bad = copy.deepcopy(raw)
    edit(bad)
    with pytest.raises(ParamsError) as err:
        parse_params(bad)
    assert message in str(err.value)


def test_load_params_names_the_file(tmp_path: Path, raw: dict) -> None:
    path = tmp_path / "params.yaml"
    raw["base"]["seed"] = -0.5
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ParamsError, match=rf"^{path}: params: base.seed: must be an integer"):
        load_params(path)


def test_load_params_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=rf"^{path}: invalid YAML"):
        load_params(path)


def test_load_params_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_family_range_error_names_the_family_key(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["translate"]["seq2seq"]["units"] = 0
    with pytest.raises(ParamsError) as err:
        parse_params(bad)
    assert str(err.value) == "params: translate.seq2seq.units: must be > 0, got 0"
