"""Concurrent requests on the same things (threads; SQLite and PostgreSQL) end in
answers a person can act on — never a 5xx — and never in duplicate rows."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from matcher.api.app import create_app
from matcher.container import Services
from matcher.review import matching
from matcher.store.tables import Candidate, Face, Media, Record
from tests.conftest import make_settings
from tests.http_helpers import make_accounts


def _jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.fixture
def world(tmp_path, services, database_url):
    settings = make_settings(tmp_path / "var", database_url=database_url)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "admin": "admin"})
    return svc, TestClient(create_app(settings, services=svc), raise_server_exceptions=False), accounts


def _together(calls, workers: int | None = None) -> list:
    """Run the calls at the same moment (a barrier), in threads; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(30)
        return call()

    with ThreadPoolExecutor(workers or len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_picks_of_faces_leave_exactly_one_chosen_face(world, astronaut_bgr):
    svc, client, accounts = world
    h = accounts.auth("fam")
    report = client.post("/v1/reports", json={"name": "A"}, headers=h).json()
    group = client.post(
        f"/v1/reports/{report['id']}/media", files={"file": ("g.jpg", _jpeg(np.hstack([astronaut_bgr, astronaut_bgr[:, ::-1]])))}, headers=h
    ).json()
    faces = [f["id"] for f in group["faces"]]
    assert group["needs_pick"] and len(faces) == 2
    for _ in range(3):
        picks = [faces[i % 2] for i in range(6)]
        codes = _together([lambda f=f: client.post(f"/v1/reports/{report['id']}/faces/{f}/pick", headers=h).status_code for f in picks])
        assert all(c < 500 for c in codes), codes
        assert set(codes) <= {200, 409, 503}
        with svc.sessions() as session:
            chosen = session.scalars(select(Face.id).where(Face.media_id == group["media_id"], Face.selected.is_(True))).all()
        assert len(chosen) == 1, chosen
        index = svc.index("report")  # caught up with the database, as before every search
        assert sorted(set(index.ids()) & set(faces)) == chosen


def test_concurrent_erasure_and_upload_of_one_record(world, astronaut_bgr):
    svc, client, accounts = world
    h = accounts.auth("fam")
    for round_ in range(3):
        report = client.post("/v1/reports", json={"name": f"R{round_}"}, headers=h).json()
        rid = report["id"]
        photo = _jpeg(astronaut_bgr, 70 + round_)
        upload = lambda rid=rid, photo=photo: client.post(f"/v1/reports/{rid}/media", files={"file": ("p.jpg", photo)}, headers=h).status_code  # noqa: E731
        erase = lambda rid=rid: client.delete(f"/v1/reports/{rid}", headers=h).status_code  # noqa: E731
        codes = _together([upload, erase, upload])
        assert all(c < 500 for c in codes), codes
        assert codes[1] in (200, 404)
        with svc.sessions() as session:
            assert session.get(Record, rid) is None
            assert session.scalar(select(func.count()).select_from(Media).where(Media.record_id == rid)) == 0
            faces = set(session.scalars(select(Face.id)))
        assert set(svc.index("report").ids()) <= faces  # no index entry for a face that is gone


def test_the_same_photo_uploaded_twice_at_once_is_stored_once(world, astronaut_bgr):
    svc, client, accounts = world
    h = accounts.auth("shelter")
    child = client.post("/v1/children", json={"number": "SH-D"}, headers=h).json()
    photo = _jpeg(astronaut_bgr)
    codes = _together([lambda: client.post(f"/v1/children/{child['id']}/media", files={"file": ("a.jpg", photo)}, headers=h).status_code for _ in range(4)])
    assert all(c < 500 for c in codes), codes
    assert codes.count(201) == 1 and set(codes) <= {201, 400, 409}
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Media).where(Media.record_id == child["id"])) == 1


def test_concurrent_matching_creates_each_candidate_pair_once(tmp_path, services, database_url, astronaut_bgr, monkeypatch):
    """Two processes (two Services, two engines) matching at the same moment a report and a
    child that match each other, as a family's upload and a shelter's upload (or ``matcher
    index``) do: each finds the pair and writes it."""
    settings = make_settings(tmp_path / "var", database_url=database_url)
    first, second = Services(settings), Services(settings)
    for s in (first, second):
        s.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(first, {"fam": "family", "shelter": "shelter"})
    client = TestClient(create_app(settings, services=first))
    monkeypatch.setattr(first.review, "match", lambda ids, pack=None: 0)  # store both photos, match neither yet
    child = client.post("/v1/children", json={"number": "SH-M"}, headers=accounts.auth("shelter")).json()
    assert (
        client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr))}, headers=accounts.auth("shelter")).status_code == 201
    )
    report = client.post("/v1/reports", json={"name": "M"}, headers=accounts.auth("fam")).json()
    assert (
        client.post(
            f"/v1/reports/{report['id']}/media", files={"file": ("r.jpg", _jpeg(astronaut_bgr[:, ::-1].copy(), 80))}, headers=accounts.auth("fam")
        ).status_code
        == 201
    )
    monkeypatch.undo()
    with first.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Candidate)) == 0
    barrier, real_apply = threading.Barrier(2), matching.Matcher._apply

    def in_step(self, session):
        # without review.runs.serialise both would have read "no cohort or candidate row yet" by
        # now and both insert it (uq_cohort, uq_candidate_pair); with it the other one waits
        # before it reads, so this wait times out and they run in turn
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(2)
        return real_apply(self, session)

    monkeypatch.setattr(matching.Matcher, "_apply", in_step)
    outcomes = _together([lambda: _outcome(first.review.match, [report["id"]]), lambda: _outcome(second.review.match, [child["id"]])])
    with first.sessions() as session:
        pairs = session.execute(
            select(Candidate.kind, Candidate.report_id, Candidate.child_id, func.count()).group_by(Candidate.kind, Candidate.report_id, Candidate.child_id)
        ).all()
    assert (report["id"], child["id"]) in {(r, c) for _, r, c, _ in pairs}
    assert all(n == 1 for *_, n in pairs)
    assert all(o == "ok" for o in outcomes), outcomes


def test_uploads_that_match_each_other_at_the_same_moment_both_succeed(world, astronaut_bgr):
    svc, client, accounts = world
    for n in range(3):
        child = client.post("/v1/children", json={"number": f"SH-X{n}"}, headers=accounts.auth("shelter")).json()
        report = client.post("/v1/reports", json={"name": f"X{n}"}, headers=accounts.auth("fam")).json()
        codes = _together(
            [
                lambda child=child, n=n: (
                    client.post(
                        f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr, 90 - n))}, headers=accounts.auth("shelter")
                    ).status_code
                ),
                lambda report=report, n=n: (
                    client.post(
                        f"/v1/reports/{report['id']}/media",
                        files={"file": ("r.jpg", _jpeg(astronaut_bgr[:, ::-1].copy(), 80 - n))},
                        headers=accounts.auth("fam"),
                    ).status_code
                ),
            ]
        )
        assert codes == [201, 201]
    assert svc.match_batcher.wait_idle(120)  # uploads during a run leave their record to the run after it
    svc.review.match([])  # a later run finishes any match a collision deferred
    with svc.sessions() as session:
        assert not session.scalars(select(Record.id).where(Record.needs_match.is_(True))).all()
        pairs = session.execute(
            select(Candidate.kind, Candidate.report_id, Candidate.child_id, func.count()).group_by(Candidate.kind, Candidate.report_id, Candidate.child_id)
        ).all()
    assert all(c == 1 for *_, c in pairs)


def _outcome(work, *args) -> str:
    try:
        work(*args)
        return "ok"
    except Exception as exc:  # what a request would have turned into an error
        return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
