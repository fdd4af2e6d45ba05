"""Shelter staff upload an archive as a ZIP; a background job imports it with
progress and a problem report (``services.imports``). Real models on the astronaut photo
(scikit-image ships it), ZIPs built in the test, jobs run by a real ``Worker``."""

from __future__ import annotations

import csv
import io
import zipfile

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from matcher.api.app import create_app
from matcher.container import Services
from matcher.errors import ForbiddenError, InputError, NotFoundError
from matcher.jobs.worker import Worker
from matcher.store.tables import AuditEvent, JobRow, Media, Record, User
from matcher.types import Principal
from tests.conftest import make_settings
from tests.http_helpers import make_accounts
from tests.unit.ingest.test_zip_archive import zip_bomb


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos(astronaut_bgr) -> list[bytes]:
    """Distinct JPEGs of one real face: the astronaut, mirrored, shifted, re-encoded."""
    variants = [astronaut_bgr, astronaut_bgr[:, ::-1], astronaut_bgr[8:, 8:], np.ascontiguousarray(astronaut_bgr[:, ::-1][8:, :])]
    out = []
    for i, image in enumerate(variants):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, 90 + i])
        assert ok
        out.append(buf.tobytes())
    assert len(set(out)) == len(out)
    return out


@pytest.fixture
def env(tmp_path, services):
    """Services without the in-process worker (the tests run a Worker), with the session's
    loaded models; a shelter account, a second shelter, a family and an admin."""
    svc = Services(make_settings(tmp_path / "var", inprocess_worker=False))
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"staff": "shelter", "other": "shelter", "fam": "family", "rev": "reviewer", "boss": "admin"})
    with svc.sessions() as session:
        who = {u.name: Principal(u.id, u.name, u.role, 0) for u in session.scalars(select(User))}
    return svc, who, accounts


def _run(svc: Services) -> list[tuple[str, str]]:
    return Worker(svc, name="test/ns/zip").run(once=True)


def _children(svc: Services) -> dict[str, Record]:
    with svc.sessions() as session:
        return {r.external_id: r for r in session.scalars(select(Record).where(Record.side == "child"))}


def _count(svc: Services, model) -> int:
    with svc.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_folder_per_child_zip_imports_children_with_progress_owner_and_no_leftover_blob(env, photos):
    svc, who, _ = env
    existing = svc.records.create(who["boss"], "child", {"number": "C-003", "name": "Known already"})
    data = make_zip(
        {
            "Shelter export/C-001/a.jpg": photos[0],
            "Shelter export/C-001/more/b.jpg": photos[1],
            "Shelter export/C-002/c.jpg": photos[2],
            "Shelter export/C-003/d.jpg": photos[3],
        }
    )
    job = svc.imports.submit_zip(who["staff"], data, "export.zip")
    sha = job.payload["blob"]
    assert svc.blobs.exists(sha) and job.status == "queued" and job.public()["progress"] is None
    assert _run(svc) == [(job.id, "done")]
    done = svc.jobs.status(who["staff"], job.id)
    result = done["result"]
    assert done["progress"] == {"done": 4, "total": 4, "stage": "done"}
    assert (result["photos"], result["new_media"], result["records"], result["skipped"], result["failed"], result["no_face"]) == (4, 4, 3, 0, 0, 0)
    assert result["faces"] >= 4 and result["children_created"] == 2 and result["problems"] == [] and result["problems_more"] == 0
    children = _children(svc)
    assert {n: children[n].owner_id for n in ("C-001", "C-002", "C-003")} == {"C-001": who["staff"].user_id, "C-002": who["staff"].user_id, "C-003": None}
    assert children["C-003"].id == existing["id"]  # photos added to the existing child, its owner untouched
    assert not svc.blobs.exists(sha)  # the ZIP is gone once imported
    assert "filename" not in svc.jobs.get(job.id).payload
    assert not list((svc.settings.data_dir / "reports").glob("*"))  # no server-side report file for an upload
    with svc.sessions() as session:
        actions = {(e.actor, e.action) for e in session.scalars(select(AuditEvent))}
    assert ("user:staff", "archive_upload") in actions and ("user:staff", "index_archive") in actions
    # the shelter's own children, and the search on number or name
    mine = svc.records.list(who["staff"], "child", owned_by=who["staff"].user_id)
    assert [r["number"] for r in mine] == ["C-001", "C-002"]
    assert [r["number"] for r in svc.records.list(who["staff"], "child", query="known ALR")] == ["C-003"]
    assert [r["number"] for r in svc.records.list(who["staff"], "child", query="c-00")] == ["C-003", "C-001", "C-002"]
    assert svc.records.list(who["staff"], "child", query="C_00") == [] and svc.records.list(who["staff"], "child", query="%") == []


def test_bad_members_are_reported_and_the_rest_is_imported(env, photos):
    svc, who, _ = env
    data = make_zip(
        {
            "C-101/good.jpg": photos[0],
            "C-101/broken.jpg": b"\xff\xd8\xff\xe0 truncated",
            "C-101/notes.txt": b"allergic to nuts",
            "C-102/": b"",
            "C-103/ok.jpg": photos[1],
            "../evil.jpg": photos[2],
            "C-104/blank.png": cv2.imencode(".png", np.full((200, 200, 3), 200, np.uint8))[1].tobytes(),
        }
    )
    job = svc.imports.submit_zip(who["staff"], data, None)
    assert _run(svc) == [(job.id, "done")]
    result = svc.jobs.get(job.id).result
    problems = {(p["file"], p["problem"]) for p in result["problems"]}
    assert problems == {
        ("C-101/broken.jpg", "corrupt_image"),
        ("C-101/notes.txt", "not_media"),
        ("C-102/", "empty_folder"),
        ("../evil.jpg", "unsafe_name"),
        ("C-104/blank.png", "no_face"),
    }
    assert all(p["message"] and set(p) == {"file", "record", "problem", "message"} for p in result["problems"])
    assert (result["photos"], result["new_media"], result["failed"], result["no_face"], result["files_ignored"]) == (4, 3, 1, 1, 3)
    assert set(_children(svc)) == {"C-101", "C-103", "C-104"}
    # the report to download: the uploader and admins only
    rows = list(csv.DictReader(io.StringIO(svc.imports.problems_csv(who["staff"], job.id).decode("utf-8-sig"))))
    assert {(r["file"], r["record"], r["problem"]) for r in rows} >= {("C-101/broken.jpg", "C-101", "corrupt_image"), ("../evil.jpg", "", "unsafe_name")}
    assert len(svc.imports.problems_csv(who["boss"], job.id).splitlines()) == 6
    for stranger in ("other", "fam"):
        with pytest.raises(NotFoundError):
            svc.imports.problems_csv(who[stranger], job.id)


def test_manifest_zip_sets_the_childs_details(env, photos):
    svc, who, _ = env
    manifest = (
        "record_id,path,name,sex,birth_year,shelter,found_on,found_at\nM-1,img/a.jpg,Amal,F,2016,North,2024-03-01,Harbour\nM-2,img/b.jpg,Yusuf,m,2018,,,\n"
    )
    data = make_zip({"batch/manifest.csv": manifest.encode(), "batch/img/a.jpg": photos[0], "batch/img/b.jpg": photos[1]})
    job = svc.imports.submit_zip(who["staff"], data, "batch.zip")
    assert _run(svc) == [(job.id, "done")]
    children = _children(svc)
    amal, yusuf = children["M-1"], children["M-2"]
    assert (amal.name, amal.sex, amal.birth_year, amal.shelter, str(amal.event_on), amal.event_at) == ("Amal", "female", 2016, "North", "2024-03-01", "Harbour")
    assert (yusuf.name, yusuf.sex, yusuf.birth_year) == ("Yusuf", "male", 2018)
    assert svc.jobs.get(job.id).result["children_created"] == 2


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("photo.zip", b"\xff\xd8\xff\xe0 a photo renamed .zip" * 20, 415),
        ("bomb.zip", zip_bomb(), 400),
        ("empty.zip", b"", 400),
        ("nothing.zip", make_zip({"readme.txt": b"no photos here"}), 400),
    ],
)
def test_unusable_zips_are_refused_at_upload_and_leave_nothing(env, name, data, status):
    svc, who, _ = env
    before = (svc.blobs.count(), _count(svc, JobRow), _count(svc, Record))
    with pytest.raises(InputError) as caught:
        svc.imports.submit_zip(who["staff"], data, name)
    assert caught.value.status == status and caught.value.message
    assert (svc.blobs.count(), _count(svc, JobRow), _count(svc, Record)) == before


def test_only_shelter_staff_and_admins_can_upload_an_archive(env, photos):
    svc, who, _ = env
    data = make_zip({"C-1/a.jpg": photos[0]})
    for name in ("fam", "rev"):
        with pytest.raises(ForbiddenError):
            svc.imports.submit_zip(who[name], data, None)
    assert svc.blobs.count() == 0 and _count(svc, JobRow) == 0


def test_a_job_that_fails_for_good_deletes_its_zip(env, photos):
    svc, who, _ = env
    job = svc.imports.submit_zip(who["other"], make_zip({"C-1/a.jpg": photos[0]}), None)
    with svc.sessions.begin() as session:
        session.get(User, who["other"].user_id).disabled = True  # the account is switched off before its import runs
    assert _run(svc) == [(job.id, "failed")]
    assert svc.jobs.get(job.id).error["code"] == "forbidden"
    assert not svc.blobs.exists(job.payload["blob"]) and _count(svc, Record) == 0


def test_a_rerun_after_a_crash_and_a_second_upload_store_nothing_twice(env, photos, monkeypatch):
    svc, who, _ = env
    data = make_zip({"R-1/a.jpg": photos[0], "R-2/b.jpg": photos[1], "R-2/c.jpg": photos[2]})
    job = svc.imports.submit_zip(who["staff"], data, None)
    claimed = svc.jobs.claim("test/ns/crash")
    assert claimed.id == job.id

    def crash(*_args, **_kwargs):
        raise RuntimeError("the process died while matching")

    monkeypatch.setattr(svc, "match_records", crash)  # everything is stored, then the worker dies
    with pytest.raises(RuntimeError):
        svc.imports.run(who["staff"], claimed)
    monkeypatch.undo()
    assert _count(svc, Media) == 3 and svc.blobs.exists(job.payload["blob"])
    again = svc.imports.run(who["staff"], claimed)  # the re-run a recovered job gets
    assert (again["new_media"], again["skipped"], again["children_created"]) == (0, 3, 0)
    assert _count(svc, Media) == 3 and not svc.blobs.exists(job.payload["blob"])
    assert svc.jobs.finish(claimed, "test/ns/crash", again)
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Record).where(Record.needs_match.is_(True))) == 0  # matched by the re-run
    # the same ZIP uploaded twice: the first job leaves the blob to the second, which stores nothing new
    first, second = svc.imports.submit_zip(who["staff"], data, None), svc.imports.submit_zip(who["staff"], data, None)
    assert sorted(_run(svc)) == sorted([(first.id, "done"), (second.id, "done")])
    results = [svc.jobs.get(j.id).result for j in (first, second)]
    assert [r["new_media"] for r in results] == [0, 0] and [r["skipped"] for r in results] == [3, 3]
    assert _count(svc, Media) == 3 and svc.blobs.count() == _count(svc, Media) + 3  # originals + one crop each; no ZIP left


def test_progress_is_throttled_but_the_final_value_is_always_written(env):
    svc, who, _ = env
    job = svc.jobs.submit("archive_upload", who["staff"].user_id, {})
    assert svc.jobs.claim("test/ns/progress").id == job.id
    writes = [svc.jobs.set_progress(job.id, done, 10_000, "analysing") for done in range(1, 10_001)]
    assert 1 <= sum(writes) <= 5 and writes[-1] is True
    assert svc.jobs.get(job.id).progress == {"done": 10_000, "total": 10_000, "stage": "analysing"}
    assert svc.jobs.set_progress(job.id, 10_000, 10_000, "matching") is True  # a new stage is written at once
    assert svc.jobs.status(who["staff"], job.id)["progress"]["stage"] == "matching"


def test_api_accepts_a_zip_larger_than_the_photo_cap_and_reports_the_job(tmp_path, services, photos):
    settings = make_settings(tmp_path / "var", inprocess_worker=False, max_upload_mb=1, video_max_mb=1, max_archive_mb=4)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)
    accounts = make_accounts(svc, {"staff": "shelter", "fam": "family"})
    padding = np.random.default_rng(0).bytes(1_500_000)  # incompressible: the body is over the 1 MB photo cap
    data = make_zip({"K-1/a.jpg": photos[0], "K-2/b.jpg": photos[1], "K-2/padding.bin": padding})
    assert len(data) > 1_100_000
    with TestClient(create_app(settings, services=svc)) as client:
        url = "/v1/children/import/zip"
        r = client.post(url, files={"file": ("children.zip", data, "application/zip")}, headers=accounts.auth("staff"))
        assert r.status_code == 202, r.text
        body = r.json()
        assert set(body) == {"job", "status", "status_url"} and body["status"] == "queued"
        assert client.post(url, files={"file": ("c.zip", data)}, headers=accounts.auth("fam")).status_code == 403
        assert client.post(url, files={"file": ("c.zip", data)}).status_code == 401
        refused = client.post(url, files={"file": ("c.zip", b"not a zip at all" * 10)}, headers=accounts.auth("staff"))
        assert refused.status_code == 415 and refused.json()["error"]["code"] == "unsupported_media_type"
        too_big = client.post(url, files={"file": ("c.zip", b"\0" * (5 << 20))}, headers=accounts.auth("staff"))
        assert too_big.status_code == 413
        assert client.post("/v1/faces", files={"file": ("a.jpg", data)}, headers=accounts.auth("staff")).status_code == 413  # other routes keep their cap
        assert Worker(svc).run(once=True) == [(body["job"], "done")]
        status = client.get(body["status_url"], headers=accounts.auth("staff")).json()
        assert status["status"] == "done" and status["progress"] == {"done": 2, "total": 2, "stage": "done"}
        assert status["result"]["children_created"] == 2 and [p["problem"] for p in status["result"]["problems"]] == ["not_media"]
        assert client.get(body["status_url"], headers=accounts.auth("fam")).status_code == 404


def test_a_shelter_owns_the_children_it_creates(env):
    svc, who, _ = env
    mine = svc.records.create(who["staff"], "child", {"number": "S-1", "name": "Lina"})
    theirs = svc.records.create(who["other"], "child", {"number": "S-2", "name": "Lina Haddad"})
    svc.records.create(who["boss"], "child", {"number": "S-3"})
    children = _children(svc)
    assert (children["S-1"].owner_id, children["S-2"].owner_id, children["S-3"].owner_id) == (who["staff"].user_id, who["other"].user_id, None)
    assert [r["id"] for r in svc.records.list(who["staff"], "child", owned_by=who["staff"].user_id, query="lina")] == [mine["id"]]
    assert [r["id"] for r in svc.records.list(who["staff"], "child", query="LINA")] == [mine["id"], theirs["id"]]
    assert len(svc.records.list(who["rev"], "child")) == 3  # the old call, unchanged


def test_migration_0009_adds_job_progress_to_an_existing_database(tmp_path):
    from alembic import command
    from sqlalchemy import text

    from matcher.store.db import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'matcher.db'}")
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(
            text("INSERT INTO jobs (id, kind, payload, state, attempts, created_at) VALUES ('old', 'import', '{}', 'done', 1, '2024-01-01 10:00:00')")
        )
    engine.dispose()
    svc = Services(make_settings(tmp_path / "var", inprocess_worker=False))
    assert svc.jobs.get("old").public() == {"id": "old", "kind": "import", "status": "done", "result": None, "error": None, "progress": None}
    with svc.engine.begin() as connection:
        config = alembic_config(svc.engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
        assert "progress" not in {row[1] for row in connection.execute(text("PRAGMA table_info(jobs)"))}
