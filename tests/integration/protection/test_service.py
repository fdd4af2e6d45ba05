"""Encryption at rest of blobs, key rotation, and the tamper-evident audit chain."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from alembic import command
from sqlalchemy import text
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.container import Services
from matcher.errors import BlobIntegrityError, DataKeyError
from matcher.ingest.archive import ArchiveItem
from matcher.ingest.indexer import ArchiveIndexer
from matcher.services.accounts import authenticate
from matcher.store import repo
from matcher.store.blobs import SEALED_MARKER, BlobStore
from matcher.store.crypto import MAGIC, KeyFile
from matcher.store.db import alembic_config, make_engine
from tests.conftest import make_settings
from tests.http_helpers import make_accounts

JPEG_MAGIC = b"\xff\xd8\xff"


def _fresh(root: Path, services: Services, **overrides) -> Services:
    """A new DATA_DIR with the session's already-loaded pipelines (no model conversion)."""
    svc = Services(make_settings(root / "var", **overrides))
    svc.analyzer.reuse_models(services.analyzer)
    return svc


def _jpeg(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _files(root: Path):
    return [p for p in root.rglob("*") if p.is_file()]


# ---- encryption at rest -------------------------------------------------------------
def test_blobs_are_sealed_with_a_key_outside_the_data_folder(tmp_path):
    data_dir = tmp_path / "var"
    settings = make_settings(data_dir)
    key_path = settings.data_key_path
    assert key_path == tmp_path / "var.key" and not key_path.is_relative_to(data_dir)
    store = BlobStore(data_dir / "blobs", KeyFile(key_path))
    plain = JPEG_MAGIC + b"\xe0 a child's photo " * 50
    sha = store.put(plain)
    on_disk = store.path(sha).read_bytes()
    assert sha == hashlib.sha256(plain).hexdigest()  # addressed by the plaintext
    assert on_disk.startswith(MAGIC) and b"a child's photo" not in on_disk
    assert store.get(sha) == plain
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # two puts of the same bytes: one file; each seal has its own nonce
    other = BlobStore(tmp_path / "other", KeyFile(key_path))
    assert other.put(plain) == sha and other.path(sha).read_bytes() != on_disk
    assert store.put(plain) == sha and store.count() == 1


def test_altered_or_moved_blob_fails_authentication(tmp_path):
    store = BlobStore(tmp_path / "blobs", KeyFile(tmp_path / "k.key"))
    a, b = store.put(b"first blob" * 100), store.put(b"second blob" * 100)
    raw = bytearray(store.path(a).read_bytes())
    raw[-20] ^= 1
    store.path(a).write_bytes(bytes(raw))
    with pytest.raises(BlobIntegrityError):
        store.get(a)
    store.path(a).write_bytes(store.path(b).read_bytes())  # b's sealed bytes under a's name
    with pytest.raises(BlobIntegrityError):
        store.get(a)


def test_blobs_cannot_be_read_without_their_key(tmp_path):
    key = tmp_path / "k.key"
    store = BlobStore(tmp_path / "blobs", KeyFile(key))
    sha = store.put(b"secret" * 100)
    key.unlink()
    with pytest.raises(DataKeyError):
        BlobStore(tmp_path / "blobs", KeyFile(key, create=False)).get(sha)
    other = BlobStore(tmp_path / "blobs", KeyFile(tmp_path / "another.key"))  # a different key
    with pytest.raises(DataKeyError):
        other.get(sha)


def test_key_file_readable_by_others_is_refused(tmp_path):
    key = tmp_path / "k.key"
    BlobStore(tmp_path / "blobs", KeyFile(key)).put(b"x" * 64)
    os.chmod(key, 0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        BlobStore(tmp_path / "blobs", KeyFile(key)).put(b"y" * 64)


def test_no_jpeg_reaches_the_data_folder_after_upload_and_index(tmp_path, services, astronaut_bgr, shared_data, labelled_photos):
    """The issue's acceptance check: after an upload (API path) and `matcher index` with
    encryption on, no file under DATA_DIR starts with a JPEG magic number, and no blob,
    database or index file holds a JFIF/Exif header anywhere."""
    svc = _fresh(tmp_path, services)
    accounts = make_accounts(svc, {"shelter": "shelter"})
    with svc.sessions() as db:
        shelter = authenticate(db, accounts.tokens["shelter"])
    child = svc.records.create(shelter, "child", {"number": "SH-1"})
    outcome = svc.records.upload(shelter, child["id"], "child", _jpeg(astronaut_bgr), "child.jpg")
    assert outcome.faces
    ArchiveIndexer(svc, "child").run([ArchiveItem("SH-2", p.path) for p in labelled_photos[:3]])
    data_dir = svc.settings.data_dir
    blobs = [p for p in _files(data_dir / "blobs") if not p.name.startswith(".")]
    assert len(blobs) >= 4 + 3  # originals and face crops
    for path in _files(data_dir):
        with path.open("rb") as fh:
            assert fh.read(3) != JPEG_MAGIC, path
        if "models" not in path.relative_to(data_dir).parts:  # model weights are random bytes
            body = path.read_bytes()
            assert b"JFIF" not in body and b"Exif\x00\x00" not in body, path
    # and everything is still usable: the crop and the original come back decrypted
    assert svc.blobs.get(hashlib.sha256(_jpeg(astronaut_bgr)).hexdigest()).startswith(JPEG_MAGIC)


def test_clear_text_data_folder_is_sealed_on_first_start(tmp_path, services, astronaut_bgr):
    old = _fresh(tmp_path, services, encrypt_blobs=False)
    ArchiveIndexer(old, "child").run([ArchiveItem("C-1", _write(tmp_path / "a.jpg", _jpeg(astronaut_bgr)))])
    store = old.blobs
    hashes = list(store.hashes())
    assert len(hashes) == 2 and all(store.path(h).read_bytes().startswith(JPEG_MAGIC) for h in hashes)
    assert not old.settings.data_key_path.exists()

    new = _fresh(tmp_path, services)  # the next start, encryption on (the default)
    assert all(new.blobs.key_id(h) is not None for h in hashes)
    assert all(new.blobs.get(h)[:3] == JPEG_MAGIC for h in hashes)
    assert (new.settings.data_dir / "blobs" / SEALED_MARKER).exists()
    # the face crop is served as before
    with new.sessions() as session:
        face_id = session.execute(text("SELECT id FROM faces")).scalar()
    from matcher.types import Principal

    admin = Principal(0, "admin", "admin", 0)
    assert new.records.crop(admin, face_id)[:3] == JPEG_MAGIC
    again = _fresh(tmp_path, services)
    assert again.blobs.seal_all() == (0, 2)  # nothing left to do


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_key_rotation_reseals_everything_and_resumes_after_interruption(tmp_path, services, monkeypatch):
    svc = _fresh(tmp_path, services)
    payloads = [os.urandom(2000) for _ in range(12)]
    hashes = [svc.blobs.put(p) for p in payloads]
    first = svc.blobs.keys.ring().active

    calls = {"n": 0}
    real = BlobStore.reseal

    def dies_after_five(self, sha):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("killed mid-rotation")
        return real(self, sha)

    monkeypatch.setattr(BlobStore, "reseal", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        svc.protection.rotate_keys()
    monkeypatch.setattr(BlobStore, "reseal", real)
    status = svc.protection.key_status()
    second = status["active"]
    assert second != first and status["rotation_in_progress"] and set(status["keys"]) == {first, second}
    assert status["blobs_by_key"] == {second: 5, first: 7}
    restarted = _fresh(tmp_path, services)  # a new process: old and new keys both open blobs
    assert [restarted.blobs.get(h) for h in hashes] == payloads

    result = CliRunner().invoke(app, ["keys", "rotate", "--json"], env={"MATCHER_DATA_DIR": str(restarted.settings.data_dir)})
    assert result.exit_code == 0, result.output
    status = restarted.protection.key_status()
    assert status["active"] == second and status["keys"] == [second] and status["blobs_by_key"] == {second: 12}
    assert [_fresh(tmp_path, services).blobs.get(h) for h in hashes] == payloads


# ---- the audit chain --------------------------------------------------------------------
def _audit_rows(svc: Services, n: int, actor: str = "user:a") -> None:
    for i in range(n):
        with svc.sessions.begin() as session:
            repo.audit(session, actor, "admin", "record_update", "child", str(i), fields=("name", "notes"), n=i)


def test_audit_chain_verifies_and_editing_a_row_in_the_database_file_is_detected(tmp_path):
    svc = Services(make_settings(tmp_path / "var"))
    _audit_rows(svc, 6)
    report = svc.protection.verify_audit()
    assert report.ok and report.rows == 6
    db = sqlite3.connect(svc.settings.data_dir / "matcher.db")
    db.execute("UPDATE audit_events SET actor = 'user:someone-else' WHERE id = 3")
    db.commit()
    report = svc.protection.verify_audit()
    assert not report.ok and report.broken_id == 3 and "edited" in report.reason
    env = {"MATCHER_DATA_DIR": str(svc.settings.data_dir)}
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 1 and "#3" in result.output
    listed = CliRunner().invoke(app, ["audit", "--since", "2000-01-01", "--limit", "2"], env=env)  # the old command still lists
    assert listed.exit_code == 0 and len(listed.output.strip().splitlines()) == 2


def test_deleting_an_audit_row_in_the_database_file_is_detected(tmp_path):
    svc = Services(make_settings(tmp_path / "var"))
    _audit_rows(svc, 5)
    db = sqlite3.connect(svc.settings.data_dir / "matcher.db")
    db.execute("DELETE FROM audit_events WHERE id = 2")
    db.commit()
    report = svc.protection.verify_audit()
    assert not report.ok and report.broken_id == 3 and "row #1" in report.reason
    # the newest row deleted (no later row to break): the chain head gives it away
    svc2 = Services(make_settings(tmp_path / "other"))
    _audit_rows(svc2, 4)
    db = sqlite3.connect(svc2.settings.data_dir / "matcher.db")
    db.execute("DELETE FROM audit_events WHERE id = 4")
    db.commit()
    report = svc2.protection.verify_audit()
    assert not report.ok and report.rows == 3 and "newest rows" in report.reason
    result = CliRunner().invoke(app, ["audit", "verify", "--json"], env={"MATCHER_DATA_DIR": str(svc2.settings.data_dir)})
    assert result.exit_code == 1


def test_concurrent_writers_keep_one_unbroken_chain(tmp_path, database_url):
    """Eight threads, each writing two audit rows per transaction with a pause between
    them: no two rows chain to the same parent, and the chain verifies."""
    svc = Services(make_settings(tmp_path / "var", database_url=database_url))
    errors = []

    def writer(w: int) -> None:
        try:
            for i in range(15):
                with svc.sessions.begin() as session:
                    repo.audit(session, f"user:w{w}", "reviewer", "candidate_view", "candidate", str(i))
                    time.sleep(0.001)
                    repo.audit(session, f"user:w{w}", "reviewer", "decision", "candidate", str(i), verdict="unsure")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = svc.protection.verify_audit()
    assert report.ok and report.rows == 8 * 15 * 2, report
    with svc.sessions() as session:
        parents = session.execute(text("SELECT prev_hash FROM audit_events")).scalars().all()
    assert len(set(parents)) == len(parents)


def test_migration_chains_audit_rows_written_before_it(tmp_path):
    """A database at revision 0005 with audit rows (no hashes) upgrades to one that verifies."""
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'matcher.db'}")
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        for i in range(3):
            connection.execute(
                text(
                    "INSERT INTO audit_events (at, actor, role, action, object_type, object_id, details) VALUES (:at, 'user:x', 'admin', 'old', NULL, :o, :d)"
                ),
                {"at": f"2024-01-0{i + 1} 10:00:00.000000", "o": str(i), "d": '{"k": [1, 2]}'},
            )
    engine.dispose()
    svc = Services(make_settings(tmp_path / "var"))
    _audit_rows(svc, 2)
    report = svc.protection.verify_audit()
    assert report.ok and report.rows == 5


def test_admin_audit_page_shows_whether_the_chain_verifies(tmp_path, services, astronaut_bgr):
    from fastapi.testclient import TestClient

    from matcher.api.app import create_app
    from tests.http.web.test_pages import sign_in

    svc = _fresh(tmp_path, services)
    accounts = make_accounts(svc, {"admin": "admin"})
    _audit_rows(svc, 2)
    client = TestClient(create_app(svc.settings, services=svc), base_url="https://testserver")
    sign_in(client, accounts.tokens["admin"])
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "Hash chain verified (2 rows" in page.text
    _audit_rows(svc, 1)  # new rows are walked at every view (the rest at most every 5 minutes)
    assert "Hash chain verified (3 rows" in client.get("/admin/audit").text
    db = sqlite3.connect(svc.settings.data_dir / "matcher.db")
    db.execute("UPDATE audit_events SET action = 'nothing' WHERE id = 1")
    db.commit()
    assert not svc.protection.audit_status(max_age_s=0).ok  # the full walk finds it...
    assert "Hash chain broken at row #1" in client.get("/admin/audit").text  # ...and the page shows it
    restarted = _fresh(tmp_path, services)  # a fresh process shows it at once
    client = TestClient(create_app(restarted.settings, services=restarted), base_url="https://testserver")
    sign_in(client, accounts.tokens["admin"])
    assert "Hash chain broken at row #1" in client.get("/admin/audit").text
