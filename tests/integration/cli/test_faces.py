"""`matcher faces` and `matcher compare` on real photos, with the network cut off."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from matcher.cli.app import app


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a name fails the test."""

    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network access attempted: {args!r}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def cli_env(monkeypatch, model_cache):
    monkeypatch.setenv("MATCHER_DATA_DIR", str(model_cache))
    monkeypatch.setenv("MATCHER_ORT_THREADS", "2")


def _invoke(args):
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.slow
def test_faces_command_on_shared_photos_runs_offline(no_network, cli_env, labelled_photos):
    paths = [str(p.path) for p in labelled_photos[:: max(1, len(labelled_photos) // 20)]]
    code, out = _invoke(["faces", "--json", *paths])
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in rows] == paths
    assert sum(1 for r in rows if r["faces"]) >= len(paths) - 1
    face = next(r for r in rows if r["faces"])["faces"][0]
    assert set(face) == {"box", "landmarks", "det_score", "quality"}
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5


def test_faces_command_reports_bad_files_and_continues(no_network, cli_env, tmp_path, astronaut_jpeg):
    good = tmp_path / "astronaut.jpg"
    good.write_bytes(astronaut_jpeg)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is text, not a photo")
    (tmp_path / "cut.jpg").write_bytes(astronaut_jpeg[:2000])
    names = ["empty.jpg", "astronaut.jpg", "notes.jpg", "cut.jpg", "missing.jpg"]
    code, out = _invoke(["faces", "--json", *[str(tmp_path / n) for n in names]])
    assert code == 1
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in map(json.loads, out.splitlines())}
    assert len(rows["astronaut.jpg"]["faces"]) == 1 and "error" not in rows["astronaut.jpg"]
    assert rows["empty.jpg"]["error"]["code"] == "empty_file"
    assert rows["notes.jpg"]["error"]["code"] == "unsupported_media_type"
    assert rows["cut.jpg"]["error"]["code"] == "corrupt_image"
    assert rows["missing.jpg"]["error"]["code"] == "unreadable_file"


@pytest.mark.slow
def test_compare_scores_same_person_above_different_people(no_network, cli_env, labelled_photos):
    by_id: dict[str, list] = {}
    for p in labelled_photos:
        by_id.setdefault(p.identity, []).append(p.path)
    a, b = next(v for v in by_id.values() if len(v) >= 2)[:2]
    other = next(v for k, v in by_id.items() if a not in v)[0]
    _, same = _invoke(["compare", "--json", str(a), str(b)])
    _, diff = _invoke(["compare", "--json", str(a), str(other)])
    assert json.loads(same)["similarity"] > json.loads(diff)["similarity"]
