"""fetch(): mirror copy and HTTP download against a local server, with failures leaving nothing."""

from __future__ import annotations

import hashlib
import re
import socket
from pathlib import Path

import pytest

from stages.data.fetch import FetchError, fetch, mirror_from_env
from tests.httpserver import Route, serve

BODY = bytes(range(256)) * 4000  # 1,024,000 bytes: more than one 1 MiB chunk boundary
FAST = {"timeout": (2.0, 2.0), "tries": 3, "backoff": 0.01}


@pytest.fixture
def server():
    routes = {
        "/data.bin": Route(BODY),
        "/error.bin": Route(b"oops", status=500),
        "/flaky.bin": Route(BODY, fail_first=2),
        "/missing.bin": Route(b"no", status=404),
        "/page.bin": Route(b"<html>login</html>", content_type="text/html; charset=utf-8"),
        "/short.bin": Route(BODY[:1000], length=5000),
        "/dropped-once.bin": Route(BODY, drop_first=1),
        "/stall.bin": Route(BODY, stall_at=1000),
        "/disguised.bin": Route(b"\n  <!DOCTYPE html><html>Sign in</html>"),
    }
    with serve(routes) as srv:
        yield srv


def _assert_nothing_left(dest: Path) -> None:
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_fetch_http_success_writes_body_and_shows_progress(server, tmp_path, capsys):
    dest = tmp_path / "out" / "data.bin"
    assert fetch(server.url("/data.bin"), "data.bin", dest, mirror=None, **FAST) == dest
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["data.bin"]
    err = capsys.readouterr().err
    assert "data.bin" in err and "100%" in err
    assert server.hits["/data.bin"] == 1


def test_fetch_http_retries_5xx_then_succeeds(server, tmp_path):
    dest = tmp_path / "flaky.bin"
    fetch(server.url("/flaky.bin"), "flaky.bin", dest, mirror=None, **FAST)
    assert dest.read_bytes() == BODY
    assert server.hits["/flaky.bin"] == 3


def test_fetch_http_500_retries_then_fails(server, tmp_path):
    dest = tmp_path / "error.bin"
    url = server.url("/error.bin")
    with pytest.raises(FetchError, match=rf"^{re.escape(url)}: failed after 3 attempts: HTTP 500"):
        fetch(url, "error.bin", dest, mirror=None, **FAST)
    assert server.hits["/error.bin"] == 3
    _assert_nothing_left(dest)


def test_fetch_http_404_fails_without_retry(server, tmp_path):
    dest = tmp_path / "missing.bin"
    url = server.url("/missing.bin")
    with pytest.raises(FetchError, match=rf"^{re.escape(url)}: HTTP 404"):
        fetch(url, "missing.bin", dest, mirror=None, **FAST)
    assert server.hits["/missing.bin"] == 1
    _assert_nothing_left(dest)


def test_fetch_http_rejects_html_page(server, tmp_path):
    dest = tmp_path / "page.bin"
    url = server.url("/page.bin")
    pattern = rf"^{re.escape(url)}: got an HTML page \(Content-Type: text/html"
    with pytest.raises(FetchError, match=pattern):
        fetch(url, "page.bin", dest, mirror=None, **FAST)
    _assert_nothing_left(dest)


def test_fetch_http_short_body_fails(server, tmp_path):
    dest = tmp_path / "short.bin"
    url = server.url("/short.bin")
    pattern = rf"^{re.escape(url)}: failed after 3 attempts: body ended early"
    with pytest.raises(FetchError, match=pattern):
        fetch(url, "short.bin", dest, mirror=None, **FAST)
    assert server.hits["/short.bin"] == 3
    _assert_nothing_left(dest)


def test_fetch_http_dropped_connection_restarts_from_first_byte(server, tmp_path):
    dest = tmp_path / "dropped-once.bin"
    fetch(server.url("/dropped-once.bin"), "dropped-once.bin", dest, mirror=None, **FAST)
    assert server.hits["/dropped-once.bin"] == 2
    assert dest.read_bytes() == BODY  # not the first half followed by the whole body
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dropped-once.bin"]


def test_fetch_http_stalled_body_times_out(server, tmp_path):
    dest = tmp_path / "stall.bin"
    url = server.url("/stall.bin")
    pattern = rf"^{re.escape(url)}: failed after 2 attempts: ConnectionError: .*Read timed out"
    with pytest.raises(FetchError, match=pattern):
        fetch(url, "stall.bin", dest, mirror=None, timeout=(1.0, 0.3), tries=2, backoff=0.01)
    assert server.hits["/stall.bin"] == 2
    _assert_nothing_left(dest)


def test_fetch_http_rejects_html_body_with_binary_content_type(server, tmp_path):
    dest = tmp_path / "disguised.bin"
    url = server.url("/disguised.bin")
    pattern = rf"^{re.escape(url)}: got an HTML page \(Content-Type: application/octet-stream\)"
    with pytest.raises(FetchError, match=pattern):
        fetch(url, "disguised.bin", dest, mirror=None, **FAST)
    assert server.hits["/disguised.bin"] == 1
    _assert_nothing_left(dest)


def test_fetch_http_connection_refused_fails(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "x.bin"
    url = f"http://127.0.0.1:{port}/x.bin"
    pattern = rf"^{re.escape(url)}: failed after 2 attempts: ConnectionError"
    with pytest.raises(FetchError, match=pattern):
        fetch(url, "x.bin", dest, mirror=None, timeout=(1.0, 1.0), tries=2, backoff=0.01)
    _assert_nothing_left(dest)


def test_fetch_mirror_copies_file(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "data.bin").write_bytes(BODY)
    dest = tmp_path / "raw" / "data.bin"
    fetch("http://127.0.0.1:9/unused", "data.bin", dest, mirror=mirror)
    assert dest.read_bytes() == BODY


def test_fetch_missing_mirror_file_names_path_and_variable(tmp_path):
    dest = tmp_path / "raw" / "data.bin"
    with pytest.raises(FetchError) as info:
        fetch("http://127.0.0.1:9/unused", "data.bin", dest, mirror=tmp_path / "nowhere")
    missing = tmp_path / "nowhere" / "data.bin"
    assert str(info.value).startswith(f"mirror file not found: {missing} ")
    assert f"NLP_DATA_MIRROR={tmp_path / 'nowhere'}" in str(info.value)
    _assert_nothing_left(dest)


def test_mirror_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NLP_DATA_MIRROR", str(tmp_path))
    assert mirror_from_env() == tmp_path
    monkeypatch.setenv("NLP_DATA_MIRROR", "")
    assert mirror_from_env() is None
    monkeypatch.delenv("NLP_DATA_MIRROR")
    assert mirror_from_env() is None
