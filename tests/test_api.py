"""The minimal HTTP service: health and stateless face detection, with bad uploads refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from matcher.api.app import create_app
from tests.conftest import make_settings


@pytest.fixture
def client(services, tmp_path):
    settings = make_settings(tmp_path / "var", max_upload_mb=2)
    with TestClient(create_app(settings, services=services)) as c:
        yield c


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["pack"] == "yunet_sface"


def test_faces_endpoint_returns_the_astronauts_face(client, astronaut_jpeg):
    r = client.post("/v1/faces", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (512, 512)
    assert len(body["faces"]) == 1 and body["pack"] == "yunet_sface"


@pytest.mark.parametrize(
    ("name", "payload", "status", "code"),
    [
        ("zero.jpg", b"", 400, "empty_file"),
        ("text.jpg", b"just some words\n" * 20, 415, "unsupported_media_type"),
        ("doc.png", b"%PDF-1.7\n" + b"0" * 100, 415, "unsupported_media_type"),
    ],
)
def test_bad_uploads_get_a_json_4xx(client, name, payload, status, code):
    r = client.post("/v1/faces", files={"file": (name, payload, "image/jpeg")})
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


def test_truncated_upload_is_422_and_service_keeps_serving(client, astronaut_jpeg):
    r = client.post("/v1/faces", files={"file": ("cut.jpg", astronaut_jpeg[:3000], "image/jpeg")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_image"
    assert client.post("/v1/faces", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}).status_code == 200


def test_oversized_body_is_refused_with_413(client):
    r = client.post("/v1/faces", files={"file": ("big.jpg", b"\xff\xd8" + b"0" * (5 * 1024 * 1024), "image/jpeg")})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "file_too_large"
    assert client.get("/health").status_code == 200


def test_missing_file_field_is_a_clear_422(client):
    r = client.post("/v1/faces", data={"nothing": "here"})
    assert r.status_code == 422 and "file" in r.json()["error"]["message"]
