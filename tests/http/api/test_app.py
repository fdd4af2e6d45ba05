"""The HTTP edge: health, stateless face detection for staff, bad uploads refused cleanly."""

from __future__ import annotations

import struct
import zlib

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from matcher.container import Services
from tests.conftest import make_settings
from tests.http_helpers import make_accounts, store_counts


@pytest.fixture
def app_env(tmp_path, services):
    settings = make_settings(tmp_path / "var", max_upload_mb=2, video_max_mb=3)
    svc = Services(settings)
    svc.analyzer.reuse_models(services.analyzer)  # reuse the session's loaded models
    accounts = make_accounts(svc, {"fam": "family", "staff": "shelter", "rev": "reviewer"})
    with TestClient(create_app(settings, services=svc)) as client:
        yield client, svc, accounts


def test_health_needs_no_token(app_env):
    client, _, _ = app_env
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["pack"] == "yunet_sface"


def test_faces_endpoint_returns_the_astronauts_face_for_staff(app_env, astronaut_jpeg):
    client, _, accounts = app_env
    r = client.post("/v1/faces", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}, headers=accounts.auth("staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (512, 512)
    assert len(body["faces"]) == 1 and body["pack"] == "yunet_sface"
    assert client.post("/v1/faces", files={"file": ("a.jpg", astronaut_jpeg)}, headers=accounts.auth("fam")).status_code == 403


def _bomb_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 60000)
    png += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return png + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


BAD_UPLOADS = [
    ("zero.jpg", b"", 400, "empty_file"),
    ("text.jpg", b"just some words\n" * 20, 415, "unsupported_media_type"),
    ("doc.png", b"%PDF-1.7\n" + b"0" * 100, 415, "unsupported_media_type"),
    ("archive.jpg", b"PK\x03\x04" + b"\x00" * 200, 415, "unsupported_media_type"),
    ("bomb.png", _bomb_png(), 413, "image_too_large"),
]


@pytest.mark.parametrize(("name", "payload", "status", "code"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_uploads_get_a_json_4xx_and_leave_nothing_behind(app_env, name, payload, status, code):
    client, svc, accounts = app_env
    report = client.post("/v1/reports", json={"name": "Amal"}, headers=accounts.auth("fam")).json()
    before = store_counts(svc)
    r = client.post(f"/v1/reports/{report['id']}/media", files={"file": (name, payload, "image/jpeg")}, headers=accounts.auth("fam"))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    after = store_counts(svc)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    assert client.get("/health").status_code == 200


def test_truncated_photo_and_video_are_refused_and_service_keeps_serving(app_env, astronaut_jpeg):
    client, svc, accounts = app_env
    child = client.post("/v1/children", json={"number": "S-1"}, headers=accounts.auth("staff")).json()
    before = store_counts(svc)
    r = client.post(f"/v1/children/{child['id']}/media", files={"file": ("cut.jpg", astronaut_jpeg[:3000])}, headers=accounts.auth("staff"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_image"
    fake_video = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 500
    r = client.post(f"/v1/children/{child['id']}/media", files={"file": ("clip.mp4", fake_video)}, headers=accounts.auth("staff"))
    assert r.status_code == 202
    job = client.get(r.json()["status_url"], headers=accounts.auth("staff")).json()
    for _ in range(100):
        if job["status"] in ("done", "failed"):
            break
        import time

        time.sleep(0.05)
        job = client.get(r.json()["status_url"], headers=accounts.auth("staff")).json()
    assert job["status"] == "failed" and job["error"]["code"].startswith("corrupt")
    after = store_counts(svc)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    ok = client.post(f"/v1/children/{child['id']}/media", files={"file": ("a.jpg", astronaut_jpeg)}, headers=accounts.auth("staff"))
    assert ok.status_code == 201 and len(ok.json()["faces"]) == 1


def test_oversized_body_is_refused_with_413_without_storing_it(app_env):
    client, svc, accounts = app_env
    before = store_counts(svc)
    big = b"\xff\xd8" + b"0" * (200 * 1024 * 1024)
    r = client.post("/v1/faces", files={"file": ("big.jpg", big, "image/jpeg")}, headers=accounts.auth("staff"))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "file_too_large"
    assert store_counts(svc) == before
    assert client.get("/health").status_code == 200


def test_missing_file_field_is_a_clear_422(app_env):
    client, _, accounts = app_env
    r = client.post("/v1/faces", data={"nothing": "here"}, headers=accounts.auth("staff"))
    assert r.status_code == 422 and "file" in r.json()["error"]["message"]


def test_unknown_route_is_a_json_404(app_env):
    client, _, _ = app_env
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
