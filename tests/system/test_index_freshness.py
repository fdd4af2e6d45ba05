"""One index truth across processes.

Each process keeps its own FAISS index; the database's ``index_generations`` row tells it,
with one small query before every search or match, what other processes committed. The
fast tests use two ``Services`` on one database (two independent index caches, as two
processes would have) with synthetic embeddings, on SQLite and PostgreSQL; the slow ones
run real processes: ``matcher serve`` (one and two workers), ``matcher index`` and a second
server, with the real models on the shared photos.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, update

from matcher.container import Services
from matcher.evaluation.synthetic import impostor_vectors, index_records, store_records
from matcher.index.faiss_index import FaceIndex
from matcher.index.fileformat import read_meta
from matcher.index.manager import IndexManager
from matcher.store import index_state
from matcher.store.tables import Face
from matcher.types import Principal
from tests.conftest import ROOT, make_settings

ADMIN = Principal(user_id=0, name="admin", role="admin", token_id=0)


def _pair(tmp_path: Path, database_url: str | None) -> tuple[Services, Services]:
    """Two independent services on one database and data folder, as two processes."""
    settings = make_settings(tmp_path / "var", database_url=database_url)
    return Services(settings), Services(settings)


def _add(services: Services, n: int, prefix: str, seed: int) -> list[tuple[int, int, np.ndarray]]:
    info = services.pack_info()
    vectors = impostor_vectors(n, info.embedding_dim, 0.15, 0.1, seed=seed)
    with services.sessions.begin() as session:
        stored = store_records(session, "child", vectors, info.name, prefix)
    index_records(services, "child", info.name, info.embedding_dim, stored)
    return stored


def _queries(services: Services) -> list[str]:
    seen: list[str] = []
    event.listen(services.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_faces_committed_by_another_process_are_found_before_the_next_search(tmp_path, database_url):
    server, indexer = _pair(tmp_path, database_url)
    _add(indexer, 3, "OLD", seed=1)
    index = server.index("child")
    assert len(index) == 3
    stored = _add(indexer, 4, "NEW", seed=2)
    _, face_id, vector = stored[2]
    again = server.index("child")
    assert again is index  # caught up in place: callers holding the index stay valid
    assert len(again) == 7
    assert again.search(vector, 1)[0][0] == (face_id, pytest.approx(1.0, abs=1e-5))


def test_a_current_index_costs_one_small_query(tmp_path, database_url):
    server, indexer = _pair(tmp_path, database_url)
    _add(indexer, 3, "C", seed=1)
    server.index("child")
    queries = _queries(server)
    for _ in range(5):
        server.index("child")
    assert len(queries) == 5 and all("index_generations" in q for q in queries)
    queries.clear()
    _add(indexer, 2, "D", seed=2)
    server.index("child")  # behind by appends only: the row, the new ids, their vectors
    assert len(queries) == 3


@pytest.fixture
def full_compares(monkeypatch) -> list[int]:
    """Counts the full comparisons of face ids (the slow path) the index managers make."""
    calls: list[int] = []
    original = IndexManager._full_compare

    def counted(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(IndexManager, "_full_compare", staticmethod(counted))
    return calls


def test_erasure_in_another_process_leaves_the_next_search_at_once(tmp_path, database_url, full_compares):
    server, admin = _pair(tmp_path, database_url)
    stored = _add(admin, 5, "E", seed=3)
    record_id, face_id, vector = stored[1]
    assert server.index("child").search(vector, 1)[0][0][0] == face_id
    queries = _queries(server)
    admin.records.erase(ADMIN, record_id)
    index = server.index("child")
    assert face_id not in index.ids() and len(index) == 4
    assert all(hit[0] != face_id for hit in index.search(vector, 5)[0])
    assert len(queries) == 3  # the row, its tail of changes, faces appended since: no full comparison
    # an erasure and new faces since the last look: both are applied
    more = _add(admin, 2, "F", seed=4)
    admin.records.erase(ADMIN, stored[0][0])
    assert set(server.index("child").ids()) == {f for _, f, _ in stored[2:] + more}
    assert full_compares == []


def _reselect(services: Services, unselect: list[int], select_: list[int], ids_known: bool = True) -> None:
    """What a family's face pick does to the rows, as another process would do it."""
    pack = services.pack_info().name
    with services.sessions.begin() as session:
        if ids_known:
            index_state.bump(session, "child", pack, removed=unselect, added=select_)
        else:
            index_state.bump(session, "child", pack, removal=True)
        session.execute(update(Face).where(Face.id.in_(unselect)).values(selected=False))
        session.execute(update(Face).where(Face.id.in_(select_)).values(selected=True))


def test_a_face_pick_elsewhere_is_applied_from_the_changes_the_row_keeps(tmp_path, database_url, full_compares):
    server, other = _pair(tmp_path, database_url)
    stored = _add(other, 3, "P", seed=5)
    assert len(server.index("child")) == 3
    first, second = stored[0][1], stored[1][1]
    _reselect(other, [first], [])
    assert first not in server.index("child").ids()
    _reselect(other, [second], [first])  # an older face becomes a template again
    assert set(server.index("child").ids()) == {first, stored[2][1]}
    assert full_compares == []


def test_changes_of_unknown_faces_or_beyond_the_kept_tail_are_compared_in_full(tmp_path, database_url, full_compares, monkeypatch):
    server, other = _pair(tmp_path, database_url)
    stored = _add(other, 6, "Q", seed=6)
    assert len(server.index("child")) == 6
    _reselect(other, [stored[0][1]], [], ids_known=False)
    assert stored[0][1] not in server.index("child").ids()
    assert len(full_compares) == 1
    monkeypatch.setattr(index_state, "KEEP_CHANGES", 2)
    for _, face_id, _ in stored[1:4]:  # three changes while the server looks away: the tail keeps two
        _reselect(other, [face_id], [])
    assert set(server.index("child").ids()) == {f for _, f, _ in stored[4:]}
    assert len(full_compares) == 2


def test_saved_file_carries_the_generation_and_an_older_process_does_not_overwrite_a_newer_file(tmp_path, database_url):
    server, other = _pair(tmp_path, database_url)
    _add(other, 3, "G", seed=6)
    pack = other.pack_info().name
    path = other.indexes.path("child", pack)
    with other.sessions() as session:
        generation = index_state.read(session, "child", pack).generation
    assert generation > 0 and read_meta(path).generation == generation
    # a file written by a process that knows a later generation than this one ever saw
    newer = FaceIndex.create(pack, other.pack_info().embedding_dim)
    newer.save(path, generation=generation + 100)
    server.index("child")
    server.indexes.save("child", pack)
    assert read_meta(path).generation == generation + 100 and read_meta(path).count == 0
    # a rebuild from the database (matcher reindex) always replaces the file
    server.indexes.rebuild("child", pack, other.pack_info().embedding_dim)
    assert read_meta(path).generation == generation and read_meta(path).count == 3


def test_an_index_opened_from_its_file_then_catches_up(tmp_path, database_url):
    first, second = _pair(tmp_path, database_url)
    _add(first, 3, "H", seed=7)  # saved to the file
    assert len(second.index("child")) == 3  # opened from the file, checked against the database
    stored = _add(first, 2, "I", seed=8)
    assert {f for _, f, _ in stored} <= set(second.index("child").ids())


# ---- real processes ---------------------------------------------------------------------------


def _env(data_dir: Path) -> dict:
    return {
        **os.environ,
        "MATCHER_DATA_DIR": str(data_dir),
        "MATCHER_MODELS_DIR": str(ROOT / "models"),
        "MATCHER_ORT_THREADS": "1",
    }


def _cli(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "matcher", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """``matcher serve`` in its own process on a free loopback port."""

    def __init__(self, env: dict, log: Path, *extra: str) -> None:
        import httpx

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "matcher", "serve", "--port", str(self.port), *extra], env=env, stdout=self._fh, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited: {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._fh.close()


def _search(server: _Server, token: str, photo: Path) -> list[str]:
    """Record numbers of a photo search, best first (a fresh connection each time, so
    requests to a multi-worker server spread over its workers)."""
    import httpx

    response = httpx.post(
        f"{server.base}/v1/search",
        params={"side": "children", "top": 10},
        headers={"Authorization": f"Bearer {token}"},
        files={"file": (photo.name, photo.read_bytes(), "application/octet-stream")},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["faces"] >= 1
    return [c["record_id"] for c in body["candidates"]]


def _record_id(server: _Server, token: str, number: str) -> int:
    import httpx

    rows = httpx.get(f"{server.base}/v1/children", params={"limit": 500}, headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    return next(r["id"] for r in rows if r["number"] == number)


def _erase(server: _Server, token: str, record_id: int) -> None:
    import httpx

    response = httpx.delete(f"{server.base}/v1/admin/records/{record_id}", headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert response.status_code == 200, response.text


@pytest.fixture
def scene(tmp_path, labelled_photos):
    """A data folder with three indexed children (by the CLI), an admin token, and an
    identity with two photos that is not indexed yet: one to index, one to search with."""
    by_id: dict[str, list] = {}
    for p in labelled_photos:
        by_id.setdefault(p.identity, []).append(p)
    pairs = sorted(i for i, group in by_id.items() if len(group) >= 2)
    target, others = pairs[0], pairs[1:4]
    base = tmp_path / "base"
    for identity in others:
        (base / identity).mkdir(parents=True)
        (base / identity / by_id[identity][0].path.name).symlink_to(by_id[identity][0].path)
    extra = tmp_path / "extra" / target
    extra.mkdir(parents=True)
    (extra / by_id[target][0].path.name).symlink_to(by_id[target][0].path)
    env = _env(tmp_path / "var")
    _cli(env, "index", str(base), "--no-progress", "--no-match")
    _cli(env, "users", "add", "admin", "--role", "admin")
    token = _cli(env, "tokens", "create", "admin").strip().splitlines()[-1]
    return {"env": env, "token": token, "target": target, "extra": extra.parent, "probe": by_id[target][1].path, "others": others, "tmp": tmp_path}


@pytest.mark.slow
def test_serve_sees_a_child_indexed_by_another_process_and_forgets_it_when_another_erases_it(scene):
    env, token, target, probe = scene["env"], scene["token"], scene["target"], scene["probe"]
    server = _Server(env, scene["tmp"] / "serve-a.log")
    second = None
    try:
        before = _search(server, token, probe)  # opens the server's index: three other children
        assert before and target not in before
        _cli(env, "index", str(scene["extra"]), "--no-progress", "--no-match")
        assert _search(server, token, probe)[0] == target  # no restart
        second = _Server(env, scene["tmp"] / "serve-b.log")
        _erase(second, token, _record_id(second, token, target))
        after = _search(server, token, probe)
        assert target not in after and set(after) == set(before)
    finally:
        server.stop()
        if second is not None:
            second.stop()


@pytest.mark.slow
def test_serve_with_two_workers_keeps_every_worker_fresh(scene):
    env, token, target, probe = scene["env"], scene["token"], scene["target"], scene["probe"]
    server = _Server(env, scene["tmp"] / "serve-workers.log", "--workers", "2")
    try:
        for _ in range(4):  # fresh connections: both workers are likely to open their index now
            assert target not in _search(server, token, probe)
        _cli(env, "index", str(scene["extra"]), "--no-progress", "--no-match")
        for _ in range(4):
            assert _search(server, token, probe)[0] == target
        _erase(server, token, _record_id(server, token, target))
        for _ in range(4):
            assert target not in _search(server, token, probe)
        started = [line for line in server.log.read_text().splitlines() if "Started server process" in line]
        assert len(started) == 2  # two worker processes served
    finally:
        server.stop()
