"""Under load and faults: back-pressure, logs without personal data, shared sessions and rate limits,
a busy database and a full disk."""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import sqlite3
import threading
import time

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.container import Services
from matcher.errors import ServiceBusy
from matcher.faces.capacity import ModelCapacity
from matcher.logs import configure_logging
from tests.conftest import make_settings
from tests.http_helpers import make_accounts, store_counts

# what a family typed or named: none of it may reach a log line
CHILD = "Zainab Qasim-Haddad"
NOTES = "scar above the left eyebrow, last seen near Bab Touma"
CONTACT = "+963 944 555 0172"
FILE = "zainab_qasim_haddad_at_school.jpg"


def _jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _app(tmp_path, services, **overrides):
    svc = Services(make_settings(tmp_path / "var", **overrides))
    svc.analyzer.reuse_models(services.analyzer)
    return svc, create_app(svc.settings, services=svc)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, token: str):
    form = client.get("/signin")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text).group(1)
    return client.post("/signin", data={"token": token, "pre": pre}, follow_redirects=False)


# ---- back-pressure ------------------------------------------------------------------
def test_pool_runs_slots_queues_waiting_and_refuses_the_rest():
    cap = ModelCapacity(slots=1, waiting=1)
    release, entered = threading.Event(), threading.Event()

    def hold():
        with cap.slot():
            entered.set()
            release.wait(10)

    first = threading.Thread(target=hold)
    first.start()
    assert entered.wait(5)
    second = threading.Thread(target=lambda: cap.run(lambda: None))
    second.start()
    deadline = time.monotonic() + 5
    while cap.state().waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cap.state().running == 1 and cap.state().waiting == 1
    with pytest.raises(ServiceBusy) as refused:
        cap.run(lambda: None)
    assert refused.value.status == 503 and refused.value.retry_after == 60
    release.set()
    first.join(5)
    second.join(5)
    state = cap.state()
    assert (state.running, state.waiting, state.refused) == (0, 0, 1)
    assert cap.run(lambda: 7) == 7


def test_a_full_pool_answers_503_with_retry_after_and_stores_nothing(tmp_path, services, astronaut_bgr):
    svc, app = _app(tmp_path, services, model_workers=1, model_queue=0)
    accounts = make_accounts(svc, {"fam": "family"})
    client = TestClient(app)
    h = accounts.auth("fam")
    report = client.post("/v1/reports", json={"name": "A"}, headers=h).json()
    real, gate, inside = svc.records.upload, threading.Event(), threading.Event()

    def slow_upload(*args, **kwargs):
        inside.set()
        gate.wait(20)
        return real(*args, **kwargs)

    svc.records.upload = slow_upload
    results = {}
    first = threading.Thread(
        target=lambda: results.setdefault("first", client.post(f"/v1/reports/{report['id']}/media", files={"file": ("a.jpg", _jpeg(astronaut_bgr))}, headers=h))
    )
    first.start()
    assert inside.wait(20)
    before = store_counts(svc)
    busy = client.post(f"/v1/reports/{report['id']}/media", files={"file": ("b.jpg", _jpeg(astronaut_bgr, 70))}, headers=h)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
    assert busy.json()["error"]["code"] == "busy" and "try again in a minute" in busy.json()["error"]["message"]
    assert store_counts(svc) == before
    # the family pages say the same in words
    page = TestClient(app)
    assert sign_in(page, accounts.tokens["fam"]).status_code == 303
    form = page.get(f"/my/reports/{report['id']}").text
    page.post(f"/my/reports/{report['id']}/media", data={"csrf": csrf_of(form)}, files={"photo": ("c.jpg", _jpeg(astronaut_bgr, 60))}, follow_redirects=False)
    assert "busy right now" in page.get(f"/my/reports/{report['id']}").text
    gate.set()
    first.join(30)
    assert results["first"].status_code == 201
    assert store_counts(svc)["media"] == before["media"] + 1


def test_uploads_during_a_matching_run_do_not_wait_and_are_matched_together_after_it():
    from matcher.ingest.match_batcher import MatchBatcher

    runs, gate, started = [], threading.Event(), threading.Event()

    def run(ids):
        runs.append(ids)
        if len(runs) == 1:
            started.set()
            gate.wait(10)
        return 0

    batcher = MatchBatcher(run)
    first = threading.Thread(target=batcher.match, args=([1],))
    first.start()
    assert started.wait(5)
    t0 = time.monotonic()
    assert batcher.match([2]) is False and batcher.match([3]) is False  # answered at once, left pending
    assert time.monotonic() - t0 < 1
    gate.set()
    first.join(5)
    assert batcher.wait_idle(5)
    assert runs == [[1], [2, 3]]  # one run after the first, for both
    assert batcher.match([4]) is True and runs[-1] == [4]  # idle again: matched at once


# ---- logs -----------------------------------------------------------------------------
def test_no_personal_field_of_a_request_reaches_the_logs(tmp_path, services, astronaut_bgr, caplog):
    svc, app = _app(tmp_path, services)
    accounts = make_accounts(svc, {"fam": "family", "rev": "reviewer"})
    token = accounts.tokens["fam"]
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    caplog.set_level(logging.DEBUG)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        h = accounts.auth("fam")
        report = client.post("/v1/reports", json={"name": CHILD, "notes": NOTES, "contact": CONTACT}, headers=h)
        assert report.status_code == 201
        rid = report.json()["id"]
        assert client.post(f"/v1/reports/{rid}/media", files={"file": (FILE, _jpeg(astronaut_bgr))}, headers=h).status_code == 201
        assert client.post(f"/v1/reports/{rid}/media", files={"file": (FILE.replace(".jpg", ".txt"), CHILD.encode())}, headers=h).status_code == 415
        assert client.get(f"/v1/reports?name={CHILD.replace(' ', '%20')}&notes=x", headers=h).status_code == 200
        assert client.get("/v1/reports", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
        assert client.post("/v1/search", files={"file": (FILE, _jpeg(astronaut_bgr))}, data={"name": CHILD}, headers=accounts.auth("rev")).status_code == 200
        # an unexpected failure whose message carries the personal data
        svc.records.create = lambda *a, **k: (_ for _ in ()).throw(RuntimeError(f"could not store {CHILD} / {NOTES}"))
        assert client.post("/v1/reports", json={"name": CHILD}, headers=h).status_code == 500
    finally:
        configure_logging("text", "info")
    emitted = stream.getvalue()
    lines = [json.loads(line) for line in emitted.splitlines()]
    assert any(line["logger"] == "matcher.access" and line["route"] == "/v1/reports/{report_id}/media" for line in lines)
    assert any(line.get("exc", "").startswith("RuntimeError at ") for line in lines)  # the type and where, not the message
    assert all(line["request_id"] for line in lines if line["logger"] == "matcher.access")
    messages = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (CHILD, "Zainab", "Qasim", NOTES, "Bab Touma", CONTACT, FILE, "zainab_qasim", token, token[:16]):
        assert secret not in emitted, secret
        assert secret not in messages, secret


def test_access_log_lines_carry_the_request_id_the_response_names(tmp_path, services):
    _svc, app = _app(tmp_path, services)
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        got = TestClient(app).get("/health")
    finally:
        configure_logging("text", "info")
    line = next(json.loads(x) for x in stream.getvalue().splitlines() if '"matcher.access"' in x)
    assert line["request_id"] == got.headers["x-request-id"] and line["status"] == 200 and line["route"] == "/health"


# ---- sessions and rate limits shared by workers (two apps on one database) ----------------
def test_two_workers_share_web_sessions_messages_and_rate_limits(tmp_path, services):
    settings = make_settings(tmp_path / "var")
    workers = []
    for _ in range(2):
        svc = Services(settings)
        svc.analyzer.reuse_models(services.analyzer)
        workers.append((svc, TestClient(create_app(settings, services=svc))))
    (svc_a, a), (svc_b, b) = workers
    accounts = make_accounts(svc_a, {"fam": "family"})
    assert sign_in(a, accounts.tokens["fam"]).status_code == 303
    b.cookies.update(a.cookies)  # the next request reaches the other worker
    home = b.get("/my", follow_redirects=False)
    assert home.status_code == 200
    made = b.post("/my/new", data={"csrf": csrf_of(home.text), "name": "Lina"}, follow_redirects=False)
    assert made.status_code == 303
    shown = a.get(made.headers["location"]).text  # the message written by B is shown by A, once
    assert "Your report was received" in shown and "Your report was received" not in b.get(made.headers["location"]).text
    # revoking the token ends the web session on both workers
    svc_b.accounts.revoke_token(svc_b.accounts.authenticate(accounts.tokens["fam"]).token_id, "user:admin")
    assert a.get("/my", follow_redirects=False).headers["location"].startswith("/signin")
    assert b.get("/my", follow_redirects=False).headers["location"].startswith("/signin")


def test_rate_limit_counts_one_minute_for_all_workers(tmp_path, services):
    settings = make_settings(tmp_path / "var", rate_searches_per_minute=2)
    apps = []
    for _ in range(2):
        svc = Services(settings)
        apps.append((svc, TestClient(create_app(settings, services=svc))))
    accounts = make_accounts(apps[0][0], {"shelter": "shelter"})
    h = accounts.auth("shelter")
    codes = [client.post("/v1/faces", files={"file": ("x.txt", b"not an image")}, headers=h).status_code for _, client in (apps[0], apps[1], apps[0])]
    assert codes == [415, 415, 429]
    assert apps[1][1].post("/v1/faces", files={"file": ("x.txt", b"x")}, headers=h).headers["retry-after"] == "60"


# ---- a busy database --------------------------------------------------------------------
def _hold_write_lock(db_path, seconds: float, started: threading.Event) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    started.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_locked_sqlite_database_is_waited_for_not_a_500(tmp_path, services):
    svc, app = _app(tmp_path, services)
    accounts = make_accounts(svc, {"fam": "family"})
    client = TestClient(app)
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(svc.settings.data_dir / "matcher.db", 1.5, started))
    holder.start()
    assert started.wait(10)
    t0 = time.monotonic()
    got = client.post("/v1/reports", json={"name": "A"}, headers=accounts.auth("fam"))
    holder.join()
    assert got.status_code == 201 and time.monotonic() - t0 >= 1.0  # it waited for the lock, then wrote


def test_a_lock_held_past_the_busy_timeout_is_a_503_with_retry_after(tmp_path, services):
    svc, app = _app(tmp_path, services, sqlite_busy_timeout_s=0.3)
    accounts = make_accounts(svc, {"fam": "family"})
    client = TestClient(app)
    before = store_counts(svc)
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(svc.settings.data_dir / "matcher.db", 2.0, started))
    holder.start()
    assert started.wait(10)
    got = client.post("/v1/reports", json={"name": "A"}, headers=accounts.auth("fam"))
    holder.join()
    assert got.status_code == 503 and got.json()["error"]["code"] == "database_busy" and got.headers["retry-after"] == "5"
    assert store_counts(svc)["records"] == before["records"]
    assert client.post("/v1/reports", json={"name": "A"}, headers=accounts.auth("fam")).status_code == 201


# ---- a full disk ----------------------------------------------------------------------------
def test_disk_full_while_writing_a_blob_is_507_and_nothing_is_half_written(tmp_path, services, astronaut_bgr, monkeypatch):
    import matcher.store.blobs as blobs_module
    from matcher.files import atomic_write

    svc, app = _app(tmp_path, services)
    accounts = make_accounts(svc, {"shelter": "shelter"})
    client = TestClient(app)
    h = accounts.auth("shelter")
    child = client.post("/v1/children", json={"number": "SH-9"}, headers=h).json()
    before = store_counts(svc)
    writes = []

    def fills_up(path, *chunks):
        writes.append(path)
        if len(writes) == 2:  # the original fitted; the face crop does not
            tmp = path.parent / f".{path.name}.partial.tmp"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(b"half")
            tmp.unlink()  # what atomic_write does with its temp file when the write fails
            raise OSError(errno.ENOSPC, "No space left on device")
        return atomic_write(path, *chunks)

    monkeypatch.setattr(blobs_module, "atomic_write", fills_up)
    got = client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr))}, headers=h)
    assert got.status_code == 507 and got.json()["error"]["code"] == "storage_full"
    assert "storage is full" in got.json()["error"]["message"]
    assert len(writes) == 2
    assert store_counts(svc) == before  # no row, no blob (the original written first was removed), no temp file
    assert not list((svc.settings.data_dir / "inflight").glob("*.json"))
    monkeypatch.setattr(blobs_module, "atomic_write", atomic_write)
    assert client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr))}, headers=h).status_code == 201
