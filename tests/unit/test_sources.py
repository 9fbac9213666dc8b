"""sources.yaml loader: the real file parses; bad keys and values are named in the error."""

from __future__ import annotations

import copy

import pytest
import yaml

from stages.common.paths import SOURCES_FILE
from stages.data.sources import SourcesError, load_sources, parse_sources


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(SOURCES_FILE.read_text(encoding="utf-8"))


def test_load_sources_real_file():
    sources = load_sources()
    assert sources.imdb.filename == "aclImdb_v1.tar.gz"
    assert sources.imdb.reviews_per_class == 12500
    assert sources.glove.member(50) == "glove.6B.50d.txt"
    assert sources.glove.words == 400000
    assert set(sources.glove.member_sha256) == {50, 100}
    assert sources.translate.sha256.startswith("f45eb83a")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["imdb"].update(mirror="x"), "imdb.mirror: unknown key (valid keys: url, "),
        (lambda r: r["translate"].pop("sha256"), "translate.sha256: missing key"),
        (lambda r: r["translate"].update(sha256="abc"),
         "translate.sha256: must be 64 lowercase hex digits, got 'abc'"),
        (lambda r: r["glove"]["member_sha256"].update({"300": "0" * 64}),
         "glove.member_sha256: key must be an integer, got '300'"),
        (lambda r: r["glove"]["member_sha256"].update({300: "x"}),
         "glove.member_sha256.300: must be 64 lowercase hex digits, got 'x'"),
        (lambda r: r["imdb"].update(reviews_per_class="12500"),
         "imdb.reviews_per_class: must be an integer, got '12500'"),
        (lambda r: r["imdb"].update(reviews_per_class=0),
         "imdb.reviews_per_class: must be > 0, got 0"),
        (lambda r: r["imdb"].update(filename=""),
         "imdb.filename: must be a non-empty string, got ''"),
        (lambda r: r["imdb"].update(url="ftp://x"), "imdb.url: must be an http(s) URL"),
        (lambda r: r.pop("glove"), "glove: missing key"),
        (lambda r: r.update(extra={}), "extra: unknown key (valid keys: imdb, glove, translate)"),
    ],
)
def test_parse_sources_names_bad_key(raw, edit, message):
    bad = copy.deepcopy(raw)
    edit(bad)
    with pytest.raises(SourcesError) as info:
        parse_sources(bad)
    assert str(info.value).startswith(message)


def test_parse_sources_top_level_must_be_a_mapping():
    with pytest.raises(SourcesError) as info:
        parse_sources(None)
    assert str(info.value) == "top level: must be a mapping, got None"


def test_load_sources_names_file(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("imdb: [1\n", encoding="utf-8")
    with pytest.raises(SourcesError, match="sources.yaml: invalid YAML"):
        load_sources(path)
    path.write_text("imdb: 1\n", encoding="utf-8")
    with pytest.raises(SourcesError) as info:
        load_sources(path)
    assert str(info.value) == f"{path}: imdb: must be a mapping, got 1"
