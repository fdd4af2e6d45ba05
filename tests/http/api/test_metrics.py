"""/metrics after real requests, and /health/ready checking what it says it checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from matcher.api.app import create_app
from matcher.container import Services
from tests.conftest import make_settings
from tests.http_helpers import make_accounts


def _jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def world(tmp_path, services):
    svc = Services(make_settings(tmp_path / "var"))
    svc.analyzer.reuse_models(services.analyzer)  # the session's loaded models
    accounts = make_accounts(svc, {"fam": "family", "shelter": "shelter", "rev": "reviewer", "admin": "admin"})
    client = TestClient(create_app(svc.settings, services=svc))
    return client, svc, accounts


def test_metrics_need_an_admin_token(world):
    client, _, accounts = world
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=accounts.auth("rev")).status_code == 403
    got = client.get("/metrics", headers=accounts.auth("admin"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")


def test_scrape_after_real_requests_shows_the_counters_moved(world, astronaut_bgr):
    client, svc, accounts = world
    h = accounts.auth
    before = samples(client.get("/metrics", headers=h("admin")).text)
    child = client.post("/v1/children", json={"number": "SH-1", "birth_year": 2015}, headers=h("shelter")).json()
    assert client.post(f"/v1/children/{child['id']}/media", files={"file": ("c.jpg", _jpeg(astronaut_bgr))}, headers=h("shelter")).status_code == 201
    report = client.post("/v1/reports", json={"name": "Amal", "birth_year": 2015}, headers=h("fam")).json()
    assert (
        client.post(f"/v1/reports/{report['id']}/media", files={"file": ("r.jpg", _jpeg(astronaut_bgr[:, ::-1].copy(), 80))}, headers=h("fam")).status_code
        == 201
    )
    assert client.get("/v1/queue", headers=h("rev")).status_code == 200
    assert client.get("/v1/reports/999999", headers=h("fam")).status_code == 404
    after = samples(client.get("/metrics", headers=h("admin")).text)

    media = {"method": "POST", "route": "/v1/reports/{report_id}/media", "status": "201"}
    assert value(before, "matcher_http_requests_total", **media) == 0
    assert value(after, "matcher_http_requests_total", **media) == 1
    assert value(after, "matcher_http_requests_total", method="GET", route="/v1/queue", status="200") == 1
    assert value(after, "matcher_http_requests_total", method="GET", route="/v1/reports/{report_id}", status="404") == 1
    assert value(after, "matcher_http_request_duration_seconds_count", method="POST", route="/v1/reports/{report_id}/media") == 1
    # route templates only: no path with a record's id in it
    assert not any("999999" in dict(labels).get("route", "") for _, labels in after)
    # model time per stage, from the pipeline's hook: two photos -> at least two detector calls
    assert value(after, "matcher_model_stage_seconds_count", stage="detect") >= value(before, "matcher_model_stage_seconds_count", stage="detect") + 2
    assert value(after, "matcher_model_stage_seconds_count", stage="embed") >= 2
    # state read from the database at scrape time
    assert value(after, "matcher_records", side="child") == 1 and value(after, "matcher_records", side="report") == 1
    assert value(after, "matcher_template_faces", side="child", pack="yunet_sface") == 1
    assert value(after, "matcher_index_faces", side="report", pack="yunet_sface") == 1
    assert value(after, "matcher_queue_length") == value(after, "matcher_candidates", status="open") >= 1
    assert value(after, "matcher_queue_oldest_open_age_seconds") >= 0
    assert value(after, "matcher_database_up") == 1
    assert value(after, "matcher_model_pool_slots") == svc.settings.model_slots
    assert value(after, "matcher_model_pool_wait_seconds_count") >= 2
    assert ("matcher_model_pool_refused_total", ()) in after


def test_metrics_count_jobs_by_state_and_calibration_age(world):
    client, svc, accounts = world
    from matcher.store.tables import CalibrationRow, JobRow, utcnow

    with svc.sessions.begin() as session:  # rows as the jobs service leaves them (no worker runs them here)
        session.add_all([JobRow(id=f"j{i}", kind="import", payload={}, state=state) for i, state in enumerate(("queued", "queued", "running", "failed"))])
        session.add(CalibrationRow(pack="yunet_sface", n_records=3, data={}, created_at=utcnow()))
    found = samples(client.get("/metrics", headers=accounts.auth("admin")).text)
    assert value(found, "matcher_jobs", state="queued") == 2
    assert value(found, "matcher_jobs", state="running") == 1 and value(found, "matcher_jobs", state="failed") == 1
    assert 0 <= value(found, "matcher_calibration_age_seconds", pack="yunet_sface") < 60


# ---- readiness ----------------------------------------------------------------------
def test_health_stays_cheap_and_public_and_ready_checks_everything(world):
    client, *_ = world
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks) == {"database", "blobs", "model_pack", "index"} and all(c["ok"] for c in checks.values())


def test_not_ready_when_the_blob_store_cannot_write(world, monkeypatch):
    client, svc, _ = world

    def refuse(_data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(svc.blobs, "put", refuse)
    got = client.get("/health/ready")
    assert got.status_code == 503
    body = got.json()
    assert body["status"] == "not ready" and not body["checks"]["blobs"]["ok"] and "Permission" in body["checks"]["blobs"]["detail"]
    assert body["checks"]["database"]["ok"]


def test_not_ready_when_the_schema_is_behind(world):
    client, svc, _ = world
    from sqlalchemy import text

    with svc.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    got = client.get("/health/ready")
    assert got.status_code == 503 and "0001" in got.json()["checks"]["database"]["detail"]


def test_not_ready_when_a_model_file_does_not_match_its_checksum(tmp_path, services):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(make_settings(tmp_path).models_dir, models)
    manifest = models / "yunet_sface" / "pack.toml"
    text = manifest.read_text()
    first = text.index('sha256 = "') + len('sha256 = "')
    manifest.write_text(text[:first] + "0" * 64 + text[first + 64 :])
    svc = Services(make_settings(tmp_path / "var", models_dir=models))
    got = TestClient(create_app(svc.settings, services=svc)).get("/health/ready")
    assert got.status_code == 503
    assert not got.json()["checks"]["model_pack"]["ok"] and "sha256" in got.json()["checks"]["model_pack"]["detail"].lower()


def test_not_ready_when_the_index_disagrees_with_the_database(world):
    client, svc, _ = world
    index = svc.index("child")
    index.add(np.array([424242], np.int64), np.eye(1, index.dim, dtype=np.float32))  # a face the database does not have
    got = client.get("/health/ready")
    assert got.status_code == 503 and "holds 1 faces, the database has 0" in got.json()["checks"]["index"]["detail"]
