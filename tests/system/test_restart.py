"""With real processes: a web session and a rate-limit minute survive a restart of
``matcher serve``; its JSON logs hold no personal data; a server killed (SIGKILL) in the
middle of uploads leaves no half record and no orphan blob once it has started again."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from matcher.container import Services
from matcher.store.tables import Face, Media
from tests.conftest import make_settings
from tests.live_server import ROOT, Live, cli, environment, make_token

CHILD, NOTES, FILE = "Yusuf Al-Rahman", "birthmark on the right hand", "yusuf_al_rahman_2019.jpg"


def _jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _sign_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    form = client.get("/signin")
    pre = re.search(r'name="pre" value="([^"]+)"', form.text).group(1)
    assert client.post("/signin", data={"token": token, "pre": pre}).status_code == 303
    return client


def test_session_and_rate_limit_survive_a_restart_and_logs_hold_no_personal_data(tmp_path, astronaut_bgr):
    env = environment(tmp_path / "var", MATCHER_LOG_FORMAT="json", MATCHER_RATE_SEARCHES_PER_MINUTE="2")
    fam, fam_id = make_token(env, "fam", "family")
    shelter, _ = make_token(env, "shelter", "shelter")
    server = Live(env, tmp_path / "serve.log").start()
    try:
        web = _sign_in(server.base, fam)
        assert web.get("/my").status_code == 200
        api = httpx.Client(base_url=server.base, timeout=60, headers={"Authorization": f"Bearer {fam}"})
        report = api.post("/v1/reports", json={"name": CHILD, "notes": NOTES}).json()
        assert api.post(f"/v1/reports/{report['id']}/media", files={"file": (FILE, _jpeg(astronaut_bgr))}).status_code == 201
        assert api.get("/v1/reports", params={"name": CHILD}).status_code == 200
        staff = {"Authorization": f"Bearer {shelter}"}
        codes = [httpx.post(server.base + "/v1/faces", files={"file": ("x.txt", b"not an image")}, headers=staff, timeout=30).status_code for _ in range(2)]
        assert codes == [415, 415]
    finally:
        server.stop()
    server = Live(env, tmp_path / "serve.log", port=server.port).start()  # a new process, same port and data
    try:
        assert web.get("/my").status_code == 200, "the web session did not survive the restart"
        third = httpx.post(server.base + "/v1/faces", files={"file": ("x.txt", b"x")}, headers=staff, timeout=30)
        assert third.status_code == 429, "the rate-limit minute did not survive the restart"
        cli(env, "tokens", "revoke", str(fam_id))
        ended = web.get("/my")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/signin")
    finally:
        server.stop()
    lines = [line for line in server.log_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert any(r["logger"] == "matcher.access" and r["route"] == "/v1/reports/{report_id}/media" and r["status"] == 201 for r in records)
    text = server.log_text()
    for secret in (CHILD, "Yusuf", NOTES, FILE, "yusuf_al_rahman", fam, shelter, "name=", "?"):
        assert secret not in text, secret


# ---- killed in the middle of an upload ----------------------------------------------------
KILLED_UPLOAD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import cv2
    from skimage import data
    import matcher.services.records as records
    from matcher.types import Principal
    from matcher.container import Services
    from matcher.settings import Settings

    svc = Services(Settings(data_dir=Path(sys.argv[1]), models_dir=Path(sys.argv[2]), ort_threads=2))
    real = records.store_media

    def die_before_commit(*args, **kwargs):
        real(*args, **kwargs)  # rows flushed, not committed; every blob already written
        os.kill(os.getpid(), signal.SIGKILL)

    records.store_media = die_before_commit
    photo = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
    who = Principal(int(sys.argv[4]), "shelter", "shelter", 0)
    svc.records.upload(who, int(sys.argv[3]), "child", photo, "c.jpg")
    """
)


def _counts(svc: Services) -> dict:
    with svc.sessions() as session:
        media = session.scalar(select(func.count()).select_from(Media))
        refs = set(session.scalars(select(Media.sha256))) | {s for s in session.scalars(select(Face.crop_sha256)) if s}
    stored = set(svc.blobs.hashes())
    temps = list((svc.settings.data_dir / "blobs").rglob("*.tmp"))
    return {
        "media": media,
        "orphans": len(stored - refs),
        "missing": len(refs - stored),
        "temps": len(temps),
        "journals": len(list((svc.settings.data_dir / "inflight").glob("*.json"))),
    }


def test_killed_between_blobs_and_commit_leaves_nothing_after_restart(tmp_path):
    settings = make_settings(tmp_path / "var")
    svc = Services(settings)
    with svc.sessions.begin() as session:
        from matcher.services.accounts import create_user

        shelter = create_user(session, "shelter", "shelter").id
    child = svc.records.create(svc.accounts.authenticate(svc.accounts.create_token("shelter", 1, "test")["token"]), "child", {"number": "SH-K"})
    done = subprocess.run(
        [sys.executable, "-c", KILLED_UPLOAD, str(settings.data_dir), str(settings.models_dir), str(child["id"]), str(shelter)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr
    left = _counts(Services(settings))
    assert left["media"] == 0 and left["orphans"] >= 2 and left["journals"] == 1  # the original and a crop, no rows
    restarted = Services(settings)
    assert restarted.protection.recover_uploads()["journals"] == 1  # what `matcher serve` does as it starts
    assert _counts(restarted) == {"media": 0, "orphans": 0, "missing": 0, "temps": 0, "journals": 0}


@pytest.mark.slow
def test_server_killed_during_concurrent_uploads_restarts_clean(tmp_path, astronaut_bgr):
    env = environment(tmp_path / "var")
    shelter, _ = make_token(env, "shelter", "shelter")
    server = Live(env, tmp_path / "serve.log").start()
    h = {"Authorization": f"Bearer {shelter}"}
    rng = np.random.default_rng(7)
    acknowledged: list[int] = []
    stop = threading.Event()

    def family(n: int) -> None:
        with httpx.Client(base_url=server.base, headers=h, timeout=60) as c:
            i = 0
            while not stop.is_set():
                try:
                    child = c.post("/v1/children", json={"number": f"K{n}-{i}"}).json()
                    shade = rng.integers(0, 40)
                    got = c.post(
                        f"/v1/children/{child['id']}/media",
                        files={"file": ("k.jpg", _jpeg(np.clip(astronaut_bgr.astype(int) + shade, 0, 255).astype(np.uint8), 70 + i % 25))},
                    )
                    if got.status_code == 201:
                        acknowledged.append(got.json()["media_id"])
                except (httpx.HTTPError, KeyError, ValueError):
                    return
                i += 1

    threads = [threading.Thread(target=family, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(6)
    server.kill()  # SIGKILL with uploads in flight
    stop.set()
    for t in threads:
        t.join(30)
    assert acknowledged, "no upload finished before the kill"
    server = Live(env, tmp_path / "serve.log", port=server.port).start()
    try:
        assert httpx.get(server.base + "/health/ready", timeout=60).status_code == 200
    finally:
        server.stop()
    svc = Services(make_settings(tmp_path / "var"))
    left = _counts(svc)
    assert left == {"media": left["media"], "orphans": 0, "missing": 0, "temps": 0, "journals": 0}
    with svc.sessions() as session:
        stored = set(session.scalars(select(Media.id)))
    assert set(acknowledged) <= stored  # every acknowledged upload survived the kill
