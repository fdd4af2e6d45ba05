"""Sightings: footage and field photos swept against the open reports.

Slow tests run the real models over the shared clips: reports are filed from shared photos
(Lin-Manuel Miranda and a few other identities); the Hamilton clip must give one sighting,
of his report, over the time he is on screen; the crowd clip must store nothing at all.
Decisions (two-person rule, audit) and the erasure of a rejected sighting's source are
tested over HTTP with field photos (cheap). The fast tests cover the pure parts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from matcher.api.routes.sightings import byte_range
from matcher.sightings.probes import Probe
from matcher.sightings.sweep import Hit, ProbeResult, plan_sightings, source_check
from matcher.store.tables import AuditEvent, Base, Sighting, SightingFace, SightingSource
from matcher.types import Side
from tests.conftest import make_settings
from tests.http_helpers import make_accounts

HAMILTON = "short_hamilton_clip.mp4"
CROWD = "facenet_pytorch_video.mp4"
LMM = "fr_lin_manuel_miranda"
# other shared identities, none of whom is in either clip (Alex Lacamoire and the Obamas
# could be at the White House event of the Hamilton clip: not used)
OTHERS = ("fr_guido_van_rossum", "fr_steve_wozniak", "fr_paul_allen", "fr_kit_harington", "deepface_img1")


# --------------------------------------------------------------------------- fast: pure parts


def test_byte_ranges_follow_http_semantics():
    assert byte_range(None, 1000) is None
    assert byte_range("bytes=0-99", 1000) == (0, 99)
    assert byte_range("bytes=100-", 1000) == (100, 999)
    assert byte_range("bytes=-100", 1000) == (900, 999)
    assert byte_range("bytes=900-5000", 1000) == (900, 999)  # clipped to the file
    assert byte_range("bytes=0-1,5-9", 1000) is None  # several ranges: the whole file is allowed
    for bad in ("bytes=1000-", "bytes=5-2", "bytes=-0"):
        with pytest.raises(ValueError):
            byte_range(bad, 1000)


def test_footage_older_than_the_child_or_the_last_sighting_is_implausible():
    report = SimpleNamespace(side="report", birth_year=2015, birth_date=None, event_on=dt.date(2022, 3, 1), sex="F")
    assert source_check(report, None) == (None, ())  # no date given: not judged
    assert source_check(report, dt.date(2023, 1, 1)) == (True, ())
    plausible, flags = source_check(report, dt.date(2021, 6, 1))
    assert plausible is False and "found_before_last_seen" in flags
    plausible, flags = source_check(report, dt.date(2012, 6, 1))
    assert plausible is False and "photo_before_birth" in flags
    child = SimpleNamespace(side="child", birth_year=2016, birth_date=None, event_on=None, sex="M")
    assert source_check(child, dt.date(2014, 1, 1))[0] is False
    assert source_check(child, dt.date(2020, 1, 1))[0] is None


def test_a_sweep_refuses_at_once_what_it_could_not_read(tmp_path, astronaut_jpeg):
    from matcher.errors import EmptyFileError, FileTooLargeError, UnsupportedMediaError
    from matcher.sightings.probes import check_upload

    settings = make_settings(tmp_path, max_upload_mb=0.01)
    for data, error in ((b"", EmptyFileError), (b"plain words, not footage", UnsupportedMediaError), (astronaut_jpeg, FileTooLargeError)):
        with pytest.raises(error):
            check_upload(data, settings)
    check_upload(astronaut_jpeg, make_settings(tmp_path))  # a photo within the limit


def _hit(record_id: int, score: float, passes: bool) -> Hit:
    """A hit whose rank scores (on the record's cohort and on the probe's) follow ``score``."""
    return Hit(record_id, f"R{record_id}", "report", score, score / 5, 1e-4, 1e-3, passes, None, (), 1, 0, rank=score, record_rank=score)


def test_passing_tracks_of_one_record_make_one_sighting_spanning_them():
    a = Probe(0, 1.0, 4.0, 9, ())
    b = Probe(1, 7.0, 9.0, 5, ())
    c = Probe(2, 0.0, 9.0, 20, ())
    results = [
        ProbeResult(a, True, {"report": [_hit(7, 3.0, True), _hit(8, 2.0, False)]}),
        ProbeResult(b, True, {"report": [_hit(7, 3.5, True)]}),
        ProbeResult(c, True, {"report": [_hit(8, 1.0, False)]}),  # a bystander: nothing passes
        ProbeResult(Probe(3, 2.0, 2.0, 1, ()), False),
    ]
    plans = plan_sightings(results)
    assert [p.record_id for p in plans] == [7]
    assert plans[0].best[0] is b and plans[0].span == (1.0, 9.0)


# --------------------------------------------------------------------------- slow: real clips


@dataclass
class World:
    svc: object
    accounts: object
    reports: dict  # identity -> (record id, number)
    photos: dict  # identity -> [paths]
    videos: Path


def _counts(svc) -> dict:
    with svc.sessions() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
    return counts


@pytest.fixture(scope="module")
def world(tmp_path_factory, services, labelled_photos, shared_data) -> World:
    from matcher.container import Services
    from matcher.services.accounts import authenticate

    videos = shared_data / "videos"
    if not (videos / HAMILTON).is_file() or not (videos / CROWD).is_file():
        pytest.skip("shared test videos not found")
    svc = Services(make_settings(tmp_path_factory.mktemp("sightings") / "var", two_person_rule=True))
    svc.analyzer.reuse_models(services.analyzer)  # the models are loaded once per test session
    accounts = make_accounts(svc, {"fam": "family", "rev-a": "reviewer", "rev-b": "reviewer", "boss": "admin", "shelter": "shelter"})
    photos: dict = {}
    for p in labelled_photos:
        photos.setdefault(p.identity, []).append(p.path)
    reports = {}
    with svc.sessions() as db:
        fam, boss = authenticate(db, accounts.tokens["fam"]), authenticate(db, accounts.tokens["boss"])
    for identity in (LMM, *OTHERS):
        who = fam if identity == LMM else boss
        rec = svc.records.create(who, Side.REPORT, {"number": f"R-{identity}"})
        out = svc.records.upload(who, rec["id"], Side.REPORT, photos[identity][0].read_bytes(), "photo.jpg")
        assert len(out.faces) == 1
        reports[identity] = (rec["id"], rec["number"])
    return World(svc, accounts, reports, photos, videos)


@pytest.fixture(scope="module")
def hamilton(world):
    data = (world.videos / HAMILTON).read_bytes()
    outcome = world.svc.sightings.sweep(data, HAMILTON, [Side.REPORT, Side.CHILD], "user:rev-a", "reviewer")
    print(f"\nhamilton: {outcome.as_dict()['tracks']} in {outcome.seconds:.1f} s; sightings {outcome.sightings}")
    return outcome, data


@pytest.mark.slow
def test_hamilton_clip_makes_one_sighting_for_his_report_over_his_time_on_screen(world, hamilton):
    outcome, data = hamilton
    svc = world.svc
    lmm_id, lmm_number = world.reports[LMM]
    assert [(s["record"], s["new"]) for s in outcome.sightings] == [(lmm_number, True)]
    assert outcome.tracks_seen >= 5 and outcome.tracks_searched <= outcome.tracks_seen and outcome.tracks_kept >= 1
    for probe in outcome.probes:  # only his tracks are kept, and no other report passes anywhere
        passing = [c["record"] for hits in probe["candidates"].values() for c in hits if c["sighting"]]
        assert passing == ([lmm_number] if probe["sighting"] else [])
    kept = [p for p in outcome.probes if p["sighting"]]
    start, end = outcome.sightings[0]["span"]
    assert start == min(p["start"] for p in kept) and end == max(p["end"] for p in kept)
    assert start <= 1.0 and end >= outcome.duration - 1.0  # he is on screen from the first to the last second
    with svc.sessions() as db:
        sighting = db.scalars(select(Sighting)).one()
        source = db.get(SightingSource, sighting.source_id)
        faces = db.scalars(select(SightingFace).where(SightingFace.sighting_id == sighting.id)).all()
    assert sighting.record_id == lmm_id and sighting.kind == "sighting" and sighting.status == "open"
    assert sighting.fpir <= svc.settings.queue_fpir and sighting.raw_score > svc.pack_info().same_person_threshold
    assert source.sha256 == outcome.sha256 and source.file_name == HAMILTON and source.swept_by == "user:rev-a"
    assert svc.blobs.get(source.sha256) == data  # the original is kept (sealed) while the sighting is open
    assert 1 <= len(faces) <= 5 and all(start <= f.frame_time <= end and svc.blobs.exists(f.crop_sha256) for f in faces)
    assert all(f.score > svc.pack_info().same_person_threshold for f in faces)
    svc.protection.fsck(grace_s=0)  # a sighting's files are not orphans to the clean-up
    assert svc.blobs.exists(source.sha256) and all(svc.blobs.exists(f.crop_sha256) for f in faces)


@pytest.mark.slow
def test_sightings_are_in_the_reviewers_queue_as_a_kind_of_their_own(world, hamilton):
    from matcher.cli.app import app

    svc = world.svc
    outcome, _ = hamilton
    sighting_id = outcome.sightings[0]["id"]
    lmm_id, lmm_number = world.reports[LMM]
    with svc.sessions() as db:
        stored = db.get(Sighting, sighting_id)
        audited = db.scalar(select(func.count()).select_from(AuditEvent))
    with _client(world) as client:
        listed = client.get("/v1/queue?status=all&limit=500", headers=_auth(world, "rev-b"))
        assert listed.status_code == 200
        row = next(r for r in listed.json() if r["kind"] == "sighting" and r["id"] == sighting_id)
        # the fields every queue row has, then the sighting's own
        assert (row["report_id"], row["child_id"], row["status"]) == (lmm_number, None, stored.status)
        assert (row["record"], row["record_id"], row["side"]) == (lmm_number, lmm_id, "report")
        assert row["score"] == round(stored.score, 4) and row["fmr"] == stored.fmr and row["fpir"] <= svc.settings.queue_fpir
        assert row["span"] == outcome.sightings[0]["span"] and row["evidence"]["tracks"]
        assert row["url"] == f"/v1/sightings/{sighting_id}" and row["page"] == f"/review/sightings/{sighting_id}"
        assert HAMILTON not in json.dumps(row)  # no file name in a list (the audited page shows it)
        only = client.get("/v1/queue?kind=sighting&status=all", headers=_auth(world, "rev-b")).json()
        assert only and {r["kind"] for r in only} == {"sighting"} and sighting_id in [r["id"] for r in only]
        assert [r["id"] for r in client.get("/v1/queue?kind=sighting", headers=_auth(world, "rev-b")).json()] == svc.sightings.open_ids()
        assert not any(r["kind"] == "sighting" for r in client.get("/v1/queue?kind=match&status=all", headers=_auth(world, "rev-b")).json())
        assert client.get("/v1/queue?kind=sighting", headers=_auth(world, "fam")).status_code == 403
        assert client.get("/v1/queue?kind=sightings", headers=_auth(world, "rev-b")).status_code == 422
    run = CliRunner().invoke(app, ["queue", "--json", "--kind", "sighting", "--status", "all"], obj=svc, catch_exceptions=False)
    assert sighting_id in [r["id"] for r in json.loads(run.output)]
    text = CliRunner().invoke(app, ["queue", "--status", "all"], obj=svc, catch_exceptions=False).output
    start, end = outcome.sightings[0]["span"]
    assert re.search(rf"^#{sighting_id} +sighting +report {re.escape(lmm_number)} +seen {start:.1f}-{end:.1f} s", text, re.M), text
    with svc.sessions() as db:  # reading the queue is not audited, as for candidates (opening one is)
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == audited


@pytest.mark.slow
def test_two_sweeps_of_one_file_at_the_same_moment_store_it_once_and_both_answer(world, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from matcher.sightings import persist

    svc = world.svc
    data = world.photos["deepface_img1"][1].read_bytes()  # a field photo of a reported person
    number = world.reports["deepface_img1"][1]
    real, together, looked = persist.existing, threading.Barrier(2, timeout=60), []

    def existing(session, sha256, record_ids):
        found = real(session, sha256, record_ids)
        looked.append(dict(found))
        if len(looked) <= 2:
            together.wait()  # both sweeps have looked for this file's sightings before either stores one
        return found

    monkeypatch.setattr(persist, "existing", existing)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda who: svc.sightings.sweep(data, "gate-b.jpg", [Side.REPORT], who, "reviewer"), ("user:rev-a", "user:rev-b")))
    assert [[s["record"] for s in o.sightings] for o in outcomes] == [[number], [number]]
    assert sorted(s["new"] for o in outcomes for s in o.sightings) == [False, True]  # the second found the first's
    assert len({s["id"] for o in outcomes for s in o.sightings}) == 1
    assert len(looked) == 3 and looked[:2] == [{}, {}] and looked[2]  # they collided; the loser looked again
    sha = outcomes[0].sha256
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(SightingSource).where(SightingSource.sha256 == sha)) == 1
        sighting = db.scalars(select(Sighting).where(Sighting.source_sha256 == sha)).one()
        crops = [f.crop_sha256 for f in sighting.faces]
        sweeps = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.object_type == "sweep", AuditEvent.object_id == sha))
    assert crops and svc.blobs.get(sha) == data and all(svc.blobs.exists(c) for c in crops)  # the loser deleted nothing the winner keeps
    assert sweeps == 2


@pytest.mark.slow
def test_crowd_clip_stores_nothing_and_leaves_no_face_blob_or_row_behind(world, hamilton):
    from matcher.cli.app import app

    svc = world.svc
    before, blobs_before = _counts(svc), set(svc.blobs.hashes())
    run = CliRunner().invoke(app, ["sweep", str(world.videos / CROWD), "--side", "both", "--json"], obj=svc, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    lines = [json.loads(line) for line in run.output.splitlines() if line.strip()]
    probes, summary = lines[:-1], lines[-1]
    print(f"\ncrowd: {summary['tracks']} in {summary['seconds']} s")
    assert summary["tracks"]["seen"] == len(probes) >= 5 and summary["tracks"]["kept"] == 0 and summary["sightings"] == []
    assert summary["tracks"]["searched"] == sum(p["searched"] for p in probes)
    assert all(not p["sighting"] and not any(c["sighting"] for hits in p["candidates"].values() for c in hits) for p in probes)
    assert any(p["candidates"].get("report") for p in probes)  # searched, with best candidates printed
    after = _counts(svc)
    assert set(svc.blobs.hashes()) == blobs_before
    assert after["audit_events"] == before["audit_events"] + 1  # the sweep, audited as a search
    assert {k: v for k, v in after.items() if k != "audit_events"} == {k: v for k, v in before.items() if k != "audit_events"}
    with svc.sessions() as db:
        event = db.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert event.action == "search" and event.object_type == "sweep" and event.details["results"] == []


def _client(world) -> TestClient:
    from matcher.api.app import create_app

    return TestClient(create_app(world.svc.settings, services=world.svc))


def _auth(world, name: str) -> dict:
    return {"Authorization": f"Bearer {world.accounts.tokens[name]}"}


def _wait(client: TestClient, world, job_url: str, who: str = "rev-a") -> dict:
    for _ in range(600):
        job = client.get(job_url, headers=_auth(world, who)).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("the sweep job did not finish")


@pytest.fixture(scope="module")
def photo_sweep(world):
    """A field photo of Guido van Rossum (not the one his report was filed with), swept over HTTP."""
    path = world.photos["fr_guido_van_rossum"][1]
    with _client(world) as client:
        blobs = set(world.svc.blobs.hashes())
        text = client.post("/v1/sweeps", files={"file": ("notes.mp4", b"plain words, not footage")}, headers=_auth(world, "rev-a"))
        assert text.status_code == 415 and set(world.svc.blobs.hashes()) == blobs  # refused before anything is stored
        for name in ("fam", "shelter"):
            refused = client.post("/v1/sweeps", files={"file": ("field.jpg", path.read_bytes())}, headers=_auth(world, name))
            assert refused.status_code == 403
        answer = client.post(
            "/v1/sweeps", files={"file": ("gate.jpg", path.read_bytes())}, data={"side": "reports", "place": "camp gate"}, headers=_auth(world, "rev-a")
        )
        assert answer.status_code == 202, answer.text
        job = _wait(client, world, answer.json()["status_url"])
    return job, path.read_bytes()


@pytest.mark.slow
def test_a_field_photo_swept_over_http_is_a_job_whose_result_lists_the_sighting(world, photo_sweep):
    job, data = photo_sweep
    assert job["status"] == "done", job
    number = world.reports["fr_guido_van_rossum"][1]
    assert [(s["record"], s["span"]) for s in job["result"]["sightings"]] == [(number, [None, None])]
    assert job["result"]["tracks"] == {"seen": 1, "searched": 1, "kept": 1}
    with world.svc.sessions() as db:
        source = db.scalars(select(SightingSource).where(SightingSource.file_name == "gate.jpg")).one()
    assert source.place == "camp gate" and source.kind == "photo" and world.svc.blobs.get(source.sha256) == data


@pytest.mark.slow
def test_a_photo_matching_no_report_leaves_no_blob_even_through_the_job(world):
    svc = world.svc
    stranger = world.photos["deepface_img13"][0]  # an identity nobody reported
    before, blobs_before = _counts(svc), set(svc.blobs.hashes())
    with _client(world) as client:
        answer = client.post("/v1/sweeps", files={"file": ("x.jpg", stranger.read_bytes())}, headers=_auth(world, "rev-b"))
        job = _wait(client, world, answer.json()["status_url"], "rev-b")
    assert job["status"] == "done" and job["result"]["sightings"] == []
    after = _counts(svc)
    assert set(svc.blobs.hashes()) == blobs_before  # the upload was deleted after the sweep
    for table in ("sightings", "sighting_faces", "sighting_sources", "faces", "media", "embeddings", "records"):
        assert after[table] == before[table]


@pytest.mark.slow
def test_rejecting_a_sighting_erases_its_frames_and_its_source(world, photo_sweep):
    svc = world.svc
    job, data = photo_sweep
    sighting_id = job["result"]["sightings"][0]["id"]
    with svc.sessions() as db:
        s = db.get(Sighting, sighting_id)
        source_sha, crops = s.source_sha256, [f.crop_sha256 for f in s.faces]
    assert crops and svc.blobs.exists(source_sha)
    with _client(world) as client:
        out = client.post(f"/v1/sightings/{sighting_id}/decision", json={"verdict": "rejected", "note": "someone else"}, headers=_auth(world, "rev-b"))
        assert out.status_code == 200 and out.json()["status"] == "rejected" and out.json()["erased_blobs"] == 1 + len(crops)
        page = client.get(f"/v1/sightings/{sighting_id}", headers=_auth(world, "rev-a")).json()
    assert page["source"] is None and page["faces"] == [] and page["source_sha256"] == source_sha
    assert not svc.blobs.exists(source_sha) and not any(svc.blobs.exists(c) for c in crops)
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(SightingSource).where(SightingSource.sha256 == source_sha)) == 0
        actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.action.in_(("sighting_decision", "sighting_source_erased"))))]
    assert "sighting_decision" in actions and "sighting_source_erased" in actions
    # the same photo swept again: the rejected sighting does not come back, nothing is stored
    blobs = set(svc.blobs.hashes())
    again = svc.sightings.sweep(data, "gate.jpg", [Side.REPORT], "user:rev-a", "reviewer")
    assert [(s["id"], s["status"], s["new"]) for s in again.sightings] == [(sighting_id, "rejected", False)]
    assert set(svc.blobs.hashes()) == blobs


@pytest.mark.slow
def test_confirming_a_sighting_needs_two_reviewers_and_keeps_the_report_open(world, hamilton):
    from matcher.services.accounts import authenticate

    svc = world.svc
    outcome, _ = hamilton
    sighting_id = outcome.sightings[0]["id"]
    url = f"/v1/sightings/{sighting_id}/decision"
    with _client(world) as client:
        assert client.post(url, json={"verdict": "confirmed"}, headers=_auth(world, "fam")).status_code == 403
        first = client.post(url, json={"verdict": "confirmed", "note": "him, at the podium"}, headers=_auth(world, "rev-a"))
        assert first.status_code == 200 and first.json()["status"] == "awaiting_second"
        again = client.post(url, json={"verdict": "confirmed"}, headers=_auth(world, "rev-a"))
        assert again.status_code == 409 and again.json()["error"]["code"] == "second_reviewer_required"
        second = client.post(url, json={"verdict": "confirmed"}, headers=_auth(world, "rev-b"))
        assert second.status_code == 200 and second.json()["status"] == "confirmed"
        view = client.get(f"/v1/sightings/{sighting_id}", headers=_auth(world, "rev-a")).json()
    assert [d["reviewer"] for d in view["decisions"]] == ["user:rev-a", "user:rev-b"]
    assert view["source"] is not None and svc.blobs.exists(view["source"]["sha256"])  # where and when he was seen stays
    lmm_id, _ = world.reports[LMM]
    with svc.sessions() as db:
        fam = authenticate(db, world.accounts.tokens["fam"])
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "sighting", AuditEvent.object_id == str(sighting_id), AuditEvent.action == "sighting_decision")
        ).all()
    assert [e.details["status"] for e in events] == ["awaiting_second", "confirmed"]
    assert events[-1].details["seen"]["span"] == view["span"]
    family_view = svc.records.get(lmm_id, fam, Side.REPORT)
    assert family_view["status"] == "under review" and "sighting" not in json.dumps(family_view)


@pytest.mark.slow
def test_sighting_page_plays_the_stored_footage_from_the_span_for_reviewers_only(world, hamilton):
    from tests.http.web.test_pages import sign_in  # the web tests' sign-in helper

    outcome, data = hamilton
    sighting_id = outcome.sightings[0]["id"]
    with _client(world) as client:
        assert sign_in(client, world.accounts.tokens["rev-a"]).status_code == 303
        assert 'href="/review/sightings"' in client.get("/review").text
        listing = client.get("/review/sightings?status=all")
        assert listing.status_code == 200 and f"/review/sightings/{sighting_id}" in listing.text
        page = client.get(f"/review/sightings/{sighting_id}")
        assert page.status_code == 200 and "media-src 'self'" in page.headers["content-security-policy"]
        start, end = outcome.sightings[0]["span"]
        assert re.search(rf'<video[^>]+src="/review/sightings/{sighting_id}/video#t={start:.2f},{end:.2f}"', page.text)
        assert "/img/sightings/faces/" in page.text
        with world.svc.sessions() as db:
            views = db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "media_view"))
        head = client.get(f"/review/sightings/{sighting_id}/video", headers={"Range": "bytes=0-99"})
        assert head.status_code == 206 and head.content == data[:100] and head.headers["content-range"] == f"bytes 0-99/{len(data)}"
        assert "no-store" in head.headers["cache-control"] and head.headers["content-type"] == "video/mp4"
        tail = client.get(f"/review/sightings/{sighting_id}/video", headers={"Range": "bytes=100-"})
        assert tail.status_code == 206 and head.content + tail.content == data
        with world.svc.sessions() as db:
            assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "media_view")) == views + 1  # once per viewing
        fam = TestClient(client.app)
        assert sign_in(fam, world.accounts.tokens["fam"]).status_code == 303
        assert fam.get(f"/review/sightings/{sighting_id}").status_code == 403
        assert fam.get(f"/review/sightings/{sighting_id}/video").status_code == 403
        assert client.get(f"/v1/sightings/{sighting_id}/video", headers=_auth(world, "fam")).status_code == 403
        api = client.get(f"/v1/sightings/{sighting_id}/video", headers={**_auth(world, "rev-b"), "Range": "bytes=-10"})
        assert api.status_code == 206 and api.content == data[-10:]


@pytest.mark.slow
def test_erasing_a_report_removes_its_sightings_and_their_files(world):
    from matcher.services.accounts import authenticate

    svc = world.svc
    record_id, number = world.reports["fr_steve_wozniak"]
    field = world.photos["fr_steve_wozniak"][1]
    outcome = svc.sightings.sweep(field.read_bytes(), "w.jpg", [Side.REPORT], "user:rev-a", "reviewer")
    assert [s["record"] for s in outcome.sightings] == [number]
    with svc.sessions() as db:
        s = db.get(Sighting, outcome.sightings[0]["id"])
        hashes = [s.source_sha256, *(f.crop_sha256 for f in s.faces)]
        boss = authenticate(db, world.accounts.tokens["boss"])
    assert all(svc.blobs.exists(h) for h in hashes)
    from tests.http.web.test_pages import csrf_of, sign_in

    sighting_id = outcome.sightings[0]["id"]
    with _client(world) as client:  # the page's decision form (CSRF-checked), then erasure
        assert sign_in(client, world.accounts.tokens["rev-b"]).status_code == 303
        page = client.get(f"/review/sightings/{sighting_id}")
        forged = client.post(f"/review/sightings/{sighting_id}/decision", data={"verdict": "unsure", "csrf": "forged"}, follow_redirects=False)
        assert forged.status_code == 403
        sent = client.post(
            f"/review/sightings/{sighting_id}/decision",
            data={"verdict": "unsure", "note": "too far", "sure": "yes", "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and client.get(sent.headers["location"]).status_code == 200
    with svc.sessions() as db:
        assert db.get(Sighting, sighting_id).status == "unsure"
    svc.records.erase(boss, record_id)
    with svc.sessions() as db:
        assert db.get(Sighting, outcome.sightings[0]["id"]) is None
        assert db.scalar(select(func.count()).select_from(SightingSource).where(SightingSource.sha256 == hashes[0])) == 0
    assert not any(svc.blobs.exists(h) for h in hashes)


@pytest.mark.slow
def test_a_source_shared_by_two_sightings_is_erased_only_when_both_are_rejected(world):
    import cv2
    import numpy as np

    svc = world.svc
    people = ("fr_paul_allen", "fr_kit_harington")
    images = [cv2.imread(str(world.photos[p][1])) for p in people]
    height = min(i.shape[0] for i in images)
    row = np.hstack([cv2.resize(i, (int(i.shape[1] * height / i.shape[0]), height)) for i in images])
    group = cv2.imencode(".jpg", row, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()  # two reported people in one field photo
    outcome = svc.sightings.sweep(group, "group.jpg", [Side.REPORT], "user:rev-a", "reviewer")
    numbers = {world.reports[p][1]: p for p in people}
    assert sorted(s["record"] for s in outcome.sightings) == sorted(numbers)
    first, second = outcome.sightings
    with svc.sessions() as db:
        crops = {s["id"]: [f.crop_sha256 for f in db.get(Sighting, s["id"]).faces] for s in outcome.sightings}
    one = svc.sightings.decide(first["id"], "rejected", "user:rev-a", "someone else")
    assert one["erased_blobs"] == len(crops[first["id"]]) and svc.blobs.exists(outcome.sha256)  # the other still needs the photo
    assert all(svc.blobs.exists(c) for c in crops[second["id"]])
    two = svc.sightings.decide(second["id"], "rejected", "user:rev-a", "someone else")
    assert two["erased_blobs"] == 1 + len(crops[second["id"]]) and not svc.blobs.exists(outcome.sha256)
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(SightingSource).where(SightingSource.sha256 == outcome.sha256)) == 0
        assert all(db.get(Sighting, s["id"]).source_id is None for s in outcome.sightings)
