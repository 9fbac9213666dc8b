"""The params loader rejects bad params.yaml content with a message naming the key."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from stages.common import params as params_file
from stages.common.params import ParamsError
from stages.families.lstm import Params as LstmParams
from stages.families.registry import load_params, parse_params, sentiment_families
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
        (
            lambda r: r["base"].update(color="red"),
            "params: base.color: unknown key (valid keys: seed, glove_dim)",
        ),
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
        (
            lambda r: r["train"].update(bert={}),
            "params: train.bert: unknown family (valid: "
            f"{', '.join(sorted(sentiment_families()))})",
        ),
        (lambda r: r["translate"].update(gpt={}), "params: translate.gpt: unknown family"),
        (lambda r: r.pop("train"), "params: train: missing section"),
        (lambda r: r["train"].update(lstm=3), "params: train.lstm: must be a mapping, got 3"),
        (lambda r: r["train"]["lstm"].pop("units"), "params: train.lstm.units: missing key"),
        (
            lambda r: r["train"]["lstm"].update(dropout=1.0),
            "params: train.lstm.dropout: must be in [0, 1), got 1.0",
        ),
        (
            lambda r: r["train"]["lstm"].update(train_on_val=True),
            "params: train.lstm.train_on_val: early stopping needs the val split",
        ),
        (
            lambda r: r["train"]["transformer"].update(num_heads=3),
            "params: train.transformer.embed_dim: 64 is not a multiple of num_heads=3",
        ),
        (
            lambda r: r["train"]["glove_bilstm"].update(frozen_epochs=5),
            "params: train.glove_bilstm.frozen_epochs: must be in [0, epochs], got 5",
        ),
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


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("units", "3", "must be an integer, got '3'"),
        ("units", 3.0, "must be an integer, got 3.0"),
        ("units", True, "must be an integer, got True"),
        ("patience", 1.0, "must be an integer, got 1.0"),
        ("learning_rate", "0.1", "must be a number, got '0.1'"),
        ("learning_rate", True, "must be a number, got True"),
        ("train_on_val", 0, "must be true or false, got 0"),
        ("train_on_val", "false", "must be true or false, got 'false'"),
        ("pooling", 1, "must be one of ['last', 'max'], got 1"),
    ],
)
def test_no_silent_coercion(raw: dict, key: str, value: object, message: str) -> None:
    bad = copy.deepcopy(raw)
    bad["train"]["lstm"][key] = value
    with pytest.raises(ParamsError) as err:
        parse_params(bad)
    assert str(err.value) == f"params: train.lstm.{key}: {message}"


@pytest.mark.parametrize("value", [50.0, "50", True])
def test_integer_choice_is_not_coerced(raw: dict, value: object) -> None:
    raw["base"]["glove_dim"] = value
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert str(err.value) == f"params: base.glove_dim: must be an integer, got {value!r}"


def test_integer_is_accepted_as_a_number(raw: dict) -> None:
    raw["translate"]["seq2seq"]["learning_rate"] = 1
    raw["train"]["tfidf_logreg"]["C"] = 3
    params = parse_params(raw)
    assert type(params.translate["seq2seq"].learning_rate) is float
    assert params.translate["seq2seq"].learning_rate == 1.0
    assert type(params.train["tfidf_logreg"].C) is float
    assert params.train["tfidf_logreg"].C == 3.0


def test_params_are_frozen_dataclasses(raw: dict) -> None:
    params = parse_params(raw)
    lstm = params.train["lstm"]
    assert type(lstm) is LstmParams
    with pytest.raises(dataclasses.FrozenInstanceError):
        lstm.units = 1  # type: ignore[misc]
    assert dataclasses.asdict(lstm)["units"] == raw["train"]["lstm"]["units"]


def test_parse_params_takes_the_family_models(raw: dict) -> None:
    families = {"train": {"lstm": LstmParams}, "translate": {}}
    with pytest.raises(ParamsError) as err:
        params_file.parse_params(raw, families)
    assert str(err.value) == "params: train.transformer_seed: unknown family (valid: lstm)"
    raw["train"] = {"lstm": raw["train"]["lstm"]}
    raw["translate"] = {}
    assert set(params_file.parse_params(raw, families).train) == {"lstm"}


def _scalar_keys(raw: dict) -> list[tuple[str, ...]]:
    """Paths of every non-null scalar in params.yaml, e.g. ``("train", "lstm", "units")``."""
    paths = []
    for section, body in raw.items():
        for key, value in body.items():
            if isinstance(value, dict):
                paths += [(section, key, k) for k, v in value.items() if v is not None]
            elif value is not None:
                paths.append((section, key))
    return paths


def test_no_key_coerces_a_string_or_a_float(raw: dict) -> None:
    """Every scalar, as a string (and every integer as a float), is rejected, naming its key."""
    paths = _scalar_keys(raw)
    assert {p[0] for p in paths} == set(raw) and len(paths) > 80  # every section is covered
    for path in paths:
        *parents, key = path
        value = raw
        for part in parents:
            value = value[part]
        value = value[key]
        wrong = [str(value)] if not isinstance(value, str) else [1]
        if type(value) is int:
            wrong.append(float(value))
        for bad_value in wrong:
            bad = copy.deepcopy(raw)
            target = bad
            for part in parents:
                target = target[part]
            target[key] = bad_value
            with pytest.raises(ParamsError) as err:
                parse_params(bad)
            assert str(err.value).startswith(f"params: {'.'.join(path)}: must be "), path
