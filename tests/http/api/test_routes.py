"""The API over HTTP: the authorisation matrix, families' isolation, rate limits, the
end-to-end review flow with real models and photos, erasure, and schema fuzzing."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile

import cv2
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from sqlalchemy import func, select

from matcher.api.app import create_app
from matcher.container import Services
from matcher.store.tables import Candidate, Embedding, Erasure, Face, Media
from tests.conftest import make_settings
from tests.http_helpers import make_accounts, store_counts

SIGNED_OUT = (None, "wrong", "expired", "revoked")
ROLES = ("fam1", "shelter", "rev", "admin")
ROLE_OF = {"fam1": "family", "shelter": "shelter", "rev": "reviewer", "admin": "admin"}


def _jpeg(bgr: np.ndarray, quality: int) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory, services, astronaut_bgr):
    root = tmp_path_factory.mktemp("http")
    (root / "imports").mkdir()
    settings = make_settings(root / "var", import_root=root / "imports")
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam1": "family", "fam2": "family", "shelter": "shelter", "rev": "reviewer", "rev2": "reviewer", "admin": "admin"})
    client = TestClient(create_app(settings, services=svc))
    client.__enter__()
    h = accounts.auth
    child = client.post("/v1/children", json={"number": "SH-001", "name": "A.", "birth_year": 2015}, headers=h("shelter")).json()
    up = client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr, 95))}, headers=h("shelter")).json()
    report = client.post("/v1/reports", json={"name": "Amal", "birth_year": 2015, "contact": "+000"}, headers=h("fam1")).json()
    mine = client.post(f"/v1/reports/{report['id']}/media", files={"file": ("r.jpg", _jpeg(astronaut_bgr, 80))}, headers=h("fam1")).json()
    other = client.post("/v1/reports", json={"name": "Other"}, headers=h("fam2")).json()
    theirs = client.post(f"/v1/reports/{other['id']}/media", files={"file": ("o.jpg", _jpeg(astronaut_bgr[:, ::-1].copy(), 85))}, headers=h("fam2")).json()
    cand = next(c for c in client.get("/v1/queue", headers=h("rev")).json() if c["report_id"] == report["number"])
    ids = {
        "R1": report["id"],
        "M1": mine["media_id"],
        "F1": mine["faces"][0]["id"],
        "R2": other["id"],
        "F2": theirs["faces"][0]["id"],
        "M2": theirs["media_id"],
        "C1": child["id"],
        "MC": up["media_id"],
        "FC": up["faces"][0]["id"],
        "CAND": cand["id"],
    }
    yield client, svc, accounts, ids, _jpeg(astronaut_bgr, 90)
    client.__exit__(None, None, None)


# (method, path, body kind, roles allowed, path must exist for allowed roles)
ROUTES = [
    ("GET", "/v1/reports", None, {"family", "reviewer", "admin"}, True),
    ("POST", "/v1/reports", "report", {"family", "admin"}, True),
    ("GET", "/v1/reports/{R1}", None, {"family", "reviewer", "admin"}, True),
    ("POST", "/v1/reports/{R1}/media", "text", {"family", "admin"}, True),
    ("GET", "/v1/reports/{R1}/media/{M1}/faces", None, {"family", "reviewer", "admin"}, True),
    ("POST", "/v1/reports/{R1}/faces/{F1}/pick", None, {"family", "admin"}, True),
    ("DELETE", "/v1/reports/999999", None, {"family", "admin"}, False),
    ("POST", "/v1/children", "child", {"shelter", "admin"}, True),
    ("GET", "/v1/children", None, {"shelter", "reviewer", "admin"}, True),
    ("GET", "/v1/children/{C1}", None, {"shelter", "reviewer", "admin"}, True),
    ("PATCH", "/v1/children/{C1}", "patch", {"shelter", "admin"}, True),
    ("POST", "/v1/children/{C1}/media", "text", {"shelter", "admin"}, True),
    ("POST", "/v1/children/import", "import", {"shelter", "admin"}, True),
    ("GET", "/v1/queue", None, {"reviewer", "admin"}, True),
    ("GET", "/v1/candidates/{CAND}", None, {"reviewer", "admin"}, True),
    ("POST", "/v1/candidates/999999/decision", "decision", {"reviewer", "admin"}, False),
    ("POST", "/v1/search", "photo", {"reviewer", "admin"}, True),
    ("POST", "/v1/faces", "photo", {"shelter", "reviewer", "admin"}, True),
    ("GET", "/v1/faces/{F1}/crop", None, {"family", "reviewer", "admin"}, True),
    ("GET", "/v1/faces/{FC}/crop", None, {"shelter", "reviewer", "admin"}, True),
    ("GET", "/v1/media/{M1}/image", None, {"family", "reviewer", "admin"}, True),
    ("GET", "/v1/media/{MC}/image", None, {"shelter", "reviewer", "admin"}, True),
    ("GET", "/v1/admin/users", None, {"admin"}, True),
    ("POST", "/v1/admin/users", "user", {"admin"}, True),
    ("POST", "/v1/admin/tokens", "token", {"admin"}, True),
    ("DELETE", "/v1/admin/tokens/999999", None, {"admin"}, False),
    ("GET", "/v1/admin/audit", None, {"admin"}, True),
    ("DELETE", "/v1/admin/records/999999", None, {"admin"}, False),
    ("GET", "/v1/admin/export/{CAND}", None, {"admin"}, True),
    ("GET", "/v1/jobs/no-such-job", None, {"family", "shelter", "reviewer", "admin"}, False),
]
_names = itertools.count()


def _call(client, method, path, body, headers, photo):
    kwargs = {"headers": headers}
    if body == "report":
        kwargs["json"] = {"name": "N"}
    elif body == "child":
        kwargs["json"] = {"number": f"N-{next(_names)}"}
    elif body == "patch":
        kwargs["json"] = {"notes": "seen by staff"}
    elif body == "import":
        kwargs["json"] = {"folder": "not-there"}
    elif body == "decision":
        kwargs["json"] = {"verdict": "unsure"}
    elif body == "user":
        kwargs["json"] = {"name": f"user{next(_names)}", "role": "family"}
    elif body == "token":
        kwargs["json"] = {"user": "fam2"}
    elif body == "text":
        kwargs["files"] = {"file": ("x.jpg", b"plain words, not a photo")}
    elif body == "photo":
        kwargs["files"] = {"file": ("x.jpg", photo)}
    return client.request(method, path, **kwargs)


@pytest.mark.parametrize(("method", "template", "body", "allowed", "exists"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_authorisation_matrix(world, method, template, body, allowed, exists):
    client, _, accounts, ids, photo = world
    path = template.format(**ids)
    seen = {}
    for who in SIGNED_OUT + ROLES:
        r = _call(client, method, path, body, accounts.auth(who), photo)
        seen[who] = r.status_code
        assert r.headers["content-type"].startswith(("application/json", "image/", "application/zip")), (who, r.text)
        if who in SIGNED_OUT:
            assert r.status_code == 401, (who, r.status_code, r.text)
            assert r.json()["error"]["code"] == "unauthenticated"
        elif ROLE_OF[who] in allowed:
            assert r.status_code not in (401, 403), (who, r.status_code, r.text)
            if exists:
                assert r.status_code != 404, (who, r.text)
            assert r.status_code < 500
        else:
            assert r.status_code in (403, 404), (who, r.status_code, r.text)
    print(f"\n{method} {template}: {seen}")


def test_health_and_docs_are_public(world):
    client = world[0]
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_family_cannot_reach_another_familys_report_or_faces(world):
    client, _, accounts, ids, photo = world
    h = accounts.auth("fam2")
    assert client.get(f"/v1/reports/{ids['R1']}", headers=h).status_code == 404
    assert ids["R1"] not in [r["id"] for r in client.get("/v1/reports", headers=h).json()]
    assert client.get(f"/v1/reports/{ids['R1']}/media/{ids['M1']}/faces", headers=h).status_code == 404
    assert client.get(f"/v1/faces/{ids['F1']}/crop", headers=h).status_code == 404
    assert client.get(f"/v1/faces/{ids['FC']}/crop", headers=h).status_code == 404
    assert client.get(f"/v1/media/{ids['M1']}/image", headers=h).status_code == 404
    assert client.post(f"/v1/reports/{ids['R1']}/media", files={"file": ("p.jpg", photo)}, headers=h).status_code == 404
    assert client.post(f"/v1/reports/{ids['R1']}/faces/{ids['F1']}/pick", headers=h).status_code == 404
    assert client.delete(f"/v1/reports/{ids['R1']}", headers=h).status_code == 404
    assert client.get(f"/v1/reports/{ids['R1']}", headers=accounts.auth("fam1")).status_code == 200
    assert client.get("/v1/children", headers=h).status_code == 403
    assert client.get(f"/v1/candidates/{ids['CAND']}", headers=h).status_code == 403
    assert client.get("/v1/queue", headers=h).status_code == 403
    own = client.get(f"/v1/faces/{ids['F2']}/crop", headers=h)
    assert own.status_code == 200 and own.content[:2] == b"\xff\xd8"


def test_family_view_never_shows_candidates_or_scores(world):
    client, _, accounts, ids, _ = world
    body = client.get(f"/v1/reports/{ids['R1']}", headers=accounts.auth("fam1")).json()
    assert body["status"] == "under review"
    text = str(body).lower()
    assert "candidate" not in text and "score" not in text and "fmr" not in text
    reviewer_view = client.get(f"/v1/reports/{ids['R1']}", headers=accounts.auth("rev")).json()
    assert "contact" not in reviewer_view


def test_served_photos_and_crops_carry_no_metadata(world, astronaut_bgr):
    from PIL import Image

    client, _, accounts, ids, _ = world
    for path in (f"/v1/media/{ids['M1']}/image", f"/v1/faces/{ids['F1']}/crop"):
        r = client.get(path, headers=accounts.auth("rev"))
        assert r.status_code == 200 and r.headers["cache-control"].startswith("no-store")
        image = Image.open(io.BytesIO(r.content))
        assert not image.getexif() and "icc_profile" not in image.info and "comment" not in image.info


def test_searches_are_rate_limited_per_token(tmp_path, services, astronaut_jpeg):
    settings = make_settings(tmp_path / "var", rate_searches_per_minute=2)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"rev": "reviewer"})
    with TestClient(create_app(settings, services=svc)) as client:
        codes = [client.post("/v1/search", files={"file": ("a.jpg", astronaut_jpeg)}, headers=accounts.auth("rev")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_upload_with_the_childs_age_stores_it_and_reads_it_back(world, astronaut_bgr):
    client, svc, accounts, ids, _ = world
    h = accounts.auth
    # a family says how old the child was in the photo (decimals allowed, comma or point)
    up = client.post(f"/v1/reports/{ids['R1']}/media", files={"file": ("age.jpg", _jpeg(astronaut_bgr, 71))}, data={"age": "4,5"}, headers=h("fam1"))
    assert up.status_code == 201, up.text
    assert up.json()["age_at_photo"] == 4.5
    media = {m["id"]: m for m in client.get(f"/v1/reports/{ids['R1']}", headers=h("fam1")).json()["media"]}
    assert media[up.json()["media_id"]]["age_at_photo"] == 4.5
    # a year taken becomes an age when the record has a birth year (R1: born 2015)
    year = client.post(f"/v1/reports/{ids['R1']}/media", files={"file": ("y.jpg", _jpeg(astronaut_bgr, 72))}, data={"year_taken": "2019"}, headers=h("fam1"))
    assert year.status_code == 201 and year.json()["age_at_photo"] == 4.0
    # shelter staff too; without a birth year the year dates the photo instead (1 July)
    kid = client.post("/v1/children", json={"number": "SH-AGE"}, headers=h("shelter")).json()
    dated = client.post(
        f"/v1/children/{kid['id']}/media", files={"file": ("k.jpg", _jpeg(astronaut_bgr, 73))}, data={"year_taken": "2020"}, headers=h("shelter")
    )
    assert dated.status_code == 201 and dated.json()["age_at_photo"] is None
    aged = client.post(f"/v1/children/{kid['id']}/media", files={"file": ("k2.jpg", _jpeg(astronaut_bgr, 74))}, data={"age": "12"}, headers=h("shelter"))
    assert aged.status_code == 201 and aged.json()["age_at_photo"] == 12.0
    assert {m["age_at_photo"] for m in client.get(f"/v1/children/{kid['id']}", headers=h("rev")).json()["media"]} == {None, 12.0}
    with svc.sessions() as session:
        assert session.get(Media, dated.json()["media_id"]).taken_at == dt.datetime(2020, 7, 1)
        assert session.get(Media, up.json()["media_id"]).age_at_photo == 4.5


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"age": "abc"}, "age"),
        ({"age": "31"}, "age"),
        ({"age": "-1"}, "age"),
        ({"age": "nan"}, "age"),
        ({"age": "4 years"}, "age"),
        ({"year_taken": "19"}, "year_taken"),
        ({"year_taken": "3000"}, "year_taken"),
        ({"year_taken": "2O19"}, "year_taken"),
        ({"year_taken": "2010"}, "year_taken"),  # before the report's birth year (2015)
        ({"age": "1", "year_taken": "2024"}, "disagree"),  # born 2015: about 9 in 2024
    ],
)
def test_upload_with_an_invalid_age_is_refused_with_422_and_stores_nothing(world, astronaut_bgr, fields, says):
    client, svc, accounts, ids, _ = world
    before = store_counts(svc)
    r = client.post(f"/v1/reports/{ids['R1']}/media", files={"file": ("bad.jpg", _jpeg(astronaut_bgr, 60))}, data=fields, headers=accounts.auth("fam1"))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_field" and says in error["message"]
    after = store_counts(svc)
    assert {k: after[k] for k in ("media", "faces", "blobs")} == {k: before[k] for k in ("media", "faces", "blobs")}


@pytest.mark.slow
def test_video_upload_with_the_childs_age_keeps_it_through_the_background_job(tmp_path, services, shared_data):
    from matcher.jobs.worker import Worker

    clip = shared_data / "videos" / "WDA_BobMenendez_000.mp4"
    if not clip.is_file():
        pytest.skip("shared test videos not found")
    settings = make_settings(tmp_path / "var", inprocess_worker=False)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam": "family"})
    with TestClient(create_app(settings, services=svc)) as client:
        report = client.post("/v1/reports", json={"name": "Amal", "birth_year": 2015}, headers=accounts.auth("fam")).json()
        # a year that does not fit the birth year is refused before anything is queued
        bad = client.post(
            f"/v1/reports/{report['id']}/media", files={"file": ("v.mp4", clip.read_bytes())}, data={"year_taken": "2001"}, headers=accounts.auth("fam")
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_field"
        queued = client.post(f"/v1/reports/{report['id']}/media", files={"file": ("v.mp4", clip.read_bytes())}, data={"age": "7"}, headers=accounts.auth("fam"))
        assert queued.status_code == 202, queued.text
        assert Worker(svc).run(once=True) == [(queued.json()["job"], "done")]
        media = client.get(f"/v1/reports/{report['id']}", headers=accounts.auth("fam")).json()["media"]
        assert [(m["kind"], m["age_at_photo"]) for m in media] == [("video", 7.0)]


@pytest.mark.slow
def test_end_to_end_family_report_found_and_confirmed_by_reviewers(tmp_path, services, labelled_photos):
    settings = make_settings(tmp_path / "var", two_person_rule=True)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "rev": "reviewer", "rev2": "reviewer", "admin": "admin"})
    by_id: dict[str, list] = {}
    for p in labelled_photos:
        by_id.setdefault(p.identity, []).append(p.path)
    people = [i for i in sorted(by_id) if len(by_id[i]) >= 2][:8]
    target = people[3]
    h = accounts.auth
    with TestClient(create_app(settings, services=svc)) as client:
        for n, identity in enumerate(people):
            child = client.post("/v1/children", json={"number": f"SH-{n}", "shelter": "North"}, headers=h("shelter")).json()
            for path in by_id[identity][:-1]:
                r = client.post(f"/v1/children/{child['id']}/media", files={"file": (path.name, path.read_bytes())}, headers=h("shelter"))
                assert r.status_code == 201, r.text
            if identity == target:
                target_number = child["number"]
        report = client.post("/v1/reports", json={"name": "Sami"}, headers=h("fam")).json()
        assert client.get(f"/v1/reports/{report['id']}", headers=h("fam")).json()["status"] == "received"
        photo = by_id[target][-1]
        up = client.post(f"/v1/reports/{report['id']}/media", files={"file": (photo.name, photo.read_bytes())}, headers=h("fam"))
        assert up.status_code == 201, up.text
        assert client.get(f"/v1/reports/{report['id']}", headers=h("fam")).json()["status"] == "under review"

        queue = [c for c in client.get("/v1/queue?kind=match", headers=h("rev")).json() if c["report_id"] == report["number"]]
        assert queue and queue[0]["child_id"] == target_number, queue
        cand = client.get(f"/v1/candidates/{queue[0]['id']}", headers=h("rev")).json()
        assert cand["records"]["child"]["external_id"] == target_number and cand["evidence"]["pairs"]
        crop = client.get(f"/v1/faces/{cand['evidence']['pairs'][0]['child_face']}/crop", headers=h("rev"))
        assert crop.status_code == 200
        first = client.post(f"/v1/candidates/{cand['id']}/decision", json={"verdict": "confirmed", "note": "same scar"}, headers=h("rev"))
        assert first.json()["status"] == "awaiting_second"
        again = client.post(f"/v1/candidates/{cand['id']}/decision", json={"verdict": "confirmed"}, headers=h("rev"))
        assert again.status_code == 409 and again.json()["error"]["code"] == "second_reviewer_required"
        second = client.post(f"/v1/candidates/{cand['id']}/decision", json={"verdict": "confirmed", "note": "agree"}, headers=h("rev2"))
        assert second.json()["status"] == "confirmed"
        assert client.get(f"/v1/reports/{report['id']}", headers=h("fam")).json()["status"] == "closed"

        export = client.get(f"/v1/admin/export/{cand['id']}", headers=h("admin"))
        names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
        assert "case.json" in names and any(n.startswith("crops/") for n in names)

        actions = [(e["actor"], e["action"]) for e in client.get("/v1/admin/audit", headers=h("admin")).json()]
        for step in [
            ("user:fam", "record_create"),
            ("user:fam", "media_upload"),
            ("system", "candidate_created"),
            ("user:rev", "candidate_view"),
            ("user:rev", "decision"),
            ("user:rev2", "decision"),
            ("user:admin", "export"),
        ]:
            assert step in actions, step


def _count(svc, model, *where) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_withdrawn_report_is_erased_everywhere_and_not_resurrected(tmp_path, services, astronaut_bgr):
    settings = make_settings(tmp_path / "var")
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "admin": "admin"})
    h = accounts.auth
    photo = _jpeg(astronaut_bgr, 88)
    with TestClient(create_app(settings, services=svc)) as client:
        child = client.post("/v1/children", json={"number": "SH-9"}, headers=h("shelter")).json()
        client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr, 97))}, headers=h("shelter"))
        report = client.post("/v1/reports", json={"name": "Lina"}, headers=h("fam")).json()
        up = client.post(f"/v1/reports/{report['id']}/media", files={"file": ("r.jpg", photo)}, headers=h("fam")).json()
        face_ids = [f["id"] for f in up["faces"]]
        with svc.sessions() as session:
            media = session.get(Media, up["media_id"])
            blob_shas = [media.sha256] + [session.get(Face, f).crop_sha256 for f in face_ids]
        assert _count(svc, Candidate, Candidate.report_id == report["id"]) >= 1
        assert all(svc.blobs.exists(s) for s in blob_shas)
        assert set(face_ids) <= set(svc.index("report").ids().tolist())

        r = client.delete(f"/v1/reports/{report['id']}", headers=h("fam"))
        assert r.status_code == 200, r.text
        assert _count(svc, Media, Media.id == up["media_id"]) == 0
        assert _count(svc, Face, Face.id.in_(face_ids)) == 0
        assert _count(svc, Embedding, Embedding.face_id.in_(face_ids)) == 0
        assert _count(svc, Candidate, Candidate.report_id == report["id"]) == 0
        assert not any(svc.blobs.exists(s) for s in blob_shas)
        assert not set(face_ids) & set(svc.index("report").ids().tolist())
        fresh = Services(settings)  # the saved index file agrees too
        assert not set(face_ids) & set(fresh.index("report").ids().tolist())
        assert _count(svc, Erasure, Erasure.external_id == report["number"]) == 1
        tombstone = [e for e in client.get("/v1/admin/audit", headers=h("admin")).json() if e["action"] == "withdraw"]
        assert tombstone and tombstone[0]["object_id"] == str(report["id"])
        assert client.get(f"/v1/reports/{report['id']}", headers=h("fam")).status_code == 404

        again = client.post("/v1/reports", json={"name": "Lina"}, headers=h("fam")).json()
        assert again["id"] != report["id"]
        up2 = client.post(f"/v1/reports/{again['id']}/media", files={"file": ("r.jpg", photo)}, headers=h("fam"))
        assert up2.status_code == 201
        assert client.get(f"/v1/reports/{report['id']}", headers=h("fam")).status_code == 404
        assert [r["id"] for r in client.get("/v1/reports", headers=h("fam")).json()] == [again["id"]]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory, services):
    root = tmp_path_factory.mktemp("fuzz")
    settings = make_settings(root / "var", import_root=root)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"admin": "admin"})
    return create_app(settings, services=svc), accounts.auth("admin")


@pytest.mark.slow
def test_openapi_fuzzing_never_gets_a_5xx(fuzz_target):
    """schemathesis generates requests for every operation in the OpenAPI schema (signed in
    as an admin, so they get past the role checks); none may get a server error."""
    app, headers = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: dict[str, set[int]] = {}
    from schemathesis.generation import GenerationMode

    for result, mode in itertools.product(list(schema.get_all_operations()), (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)):
        operation = result.ok()

        @hsettings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(mode))
        def check(case):
            response = case.call(headers=headers)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"

        try:
            check()
        except Unsatisfiable:  # an operation with no parameters has no invalid inputs
            assert mode is GenerationMode.NEGATIVE
    print(f"\n{len(seen)} operations fuzzed: " + "; ".join(f"{k} {sorted(v)}" for k, v in sorted(seen.items())))
    assert len(seen) >= 25
