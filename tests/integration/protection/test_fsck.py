"""Erasure that always completes (start-up sweep, `matcher fsck`) and what fsck
finds and repairs: orphan blobs, missing blobs, clear-text blobs, index/database disagreement."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.container import Services
from matcher.ingest.archive import ArchiveItem
from matcher.ingest.indexer import ArchiveIndexer
from matcher.store import erasurelog
from matcher.store.blobs import SEALED_MARKER, BlobStore
from matcher.store.tables import Erasure, Face, Media, Record
from matcher.types import SystemPrincipal
from tests.conftest import make_settings


def _fresh(root: Path, services: Services, **overrides) -> Services:
    svc = Services(make_settings(root / "var", **overrides))
    svc.analyzer.reuse_models(services.analyzer)
    return svc


def _indexed(tmp_path: Path, services: Services, astronaut_bgr) -> tuple[Services, int, set[str]]:
    """A child record with one photo (original + a face crop); returns its blobs."""
    svc = _fresh(tmp_path, services)
    photo = tmp_path / "c.jpg"
    photo.write_bytes(cv2.imencode(".jpg", astronaut_bgr)[1].tobytes())
    other = tmp_path / "d.jpg"
    other.write_bytes(cv2.imencode(".jpg", np.ascontiguousarray(astronaut_bgr[:, ::-1]))[1].tobytes())
    ArchiveIndexer(svc, "child").run([ArchiveItem("C-1", photo), ArchiveItem("C-2", other)])
    with svc.sessions() as session:
        record_id = session.scalar(select(Record.id).where(Record.external_id == "C-1"))
        blobs = set(session.scalars(select(Media.sha256).where(Media.record_id == record_id)))
        blobs |= set(session.scalars(select(Face.crop_sha256).join(Media).where(Media.record_id == record_id)))
    return svc, record_id, blobs


def test_crash_between_erasure_commit_and_blob_deletion_is_finished_at_next_start(tmp_path, services, astronaut_bgr, monkeypatch):
    svc, record_id, blobs = _indexed(tmp_path, services, astronaut_bgr)
    assert len(blobs) == 2 and all(svc.blobs.exists(s) for s in blobs)

    def crash(self, sha):
        raise SystemExit("power cut after the erasure committed")

    monkeypatch.setattr(BlobStore, "delete", crash)
    with pytest.raises(SystemExit):
        svc.records.erase(SystemPrincipal("test"), record_id)
    monkeypatch.undo()
    with svc.sessions() as session:
        stone = session.scalars(select(Erasure)).one()
        assert session.get(Record, record_id) is None  # committed
    assert set(stone.blob_sha256) == blobs  # the tombstone lists the original and its crop
    assert all(svc.blobs.exists(s) for s in blobs)  # ...but the files stayed
    assert not erasurelog.read(svc.settings.erasure_log_path)  # nor was the log written

    restarted = _fresh(tmp_path, services)
    sweep = restarted.protection.startup_sweep()
    assert sweep == {"erasures_finished": 2, "erasure_log_appended": 1}
    assert not any(restarted.blobs.exists(s) for s in blobs)
    assert [e.number for e in erasurelog.read(restarted.settings.erasure_log_path)] == ["C-1"]
    report = restarted.protection.fsck()
    assert report.as_dict()["ok"] and report.problems == []
    # the other record's files were not touched
    assert restarted.blobs.count() == 2


def test_erasure_blob_stored_again_afterwards_is_not_deleted(tmp_path, services, astronaut_bgr, monkeypatch):
    """A blob put again after the erasure (an upload of the same photo in flight) is spared."""
    svc, record_id, blobs = _indexed(tmp_path, services, astronaut_bgr)
    monkeypatch.setattr(BlobStore, "delete", lambda self, sha: False)
    svc.records.erase(SystemPrincipal("test"), record_id)
    monkeypatch.undo()
    original = next(s for s in blobs if svc.blobs.path(s).stat().st_size > 20_000)
    time.sleep(0.01)
    svc.blobs.put(svc.blobs.get(original))  # refreshes the modification time
    finished = svc.protection.startup_sweep()["erasures_finished"]
    assert finished == 1 and svc.blobs.exists(original)


def test_fsck_repairs_orphans_clear_blobs_and_indexes_and_fails_on_missing_blobs(tmp_path, services, astronaut_bgr):
    svc, _record_id, blobs = _indexed(tmp_path, services, astronaut_bgr)
    env = {"MATCHER_DATA_DIR": str(svc.settings.data_dir)}
    old_orphan = svc.blobs.put(b"left by a crash before the commit" * 10)
    os.utime(svc.blobs.path(old_orphan), (time.time() - 7200, time.time() - 7200))
    young_orphan = svc.blobs.put(b"an upload in flight" * 10)
    clear = BlobStore(svc.settings.data_dir / "blobs")  # a clear-text blob that is referenced
    crop = next(s for s in blobs if svc.blobs.path(s).stat().st_size < 20_000)
    plain = svc.blobs.get(crop)
    svc.blobs.delete(crop)
    clear.put(plain)
    (svc.settings.data_dir / "blobs" / SEALED_MARKER).write_text("sealed")  # as if another process wrote it clear meanwhile
    index_file = svc.indexes.path("child", svc.pack_info().name)
    index_file.write_bytes(b"not an index")

    dry = CliRunner().invoke(app, ["fsck", "--dry-run", "--json"], env=env)
    body = json.loads(dry.output)
    assert dry.exit_code == 0, dry.output  # everything found can be repaired
    assert {p["kind"] for p in body["problems"]} == {"orphan_blob", "clear_blob", "index"}
    assert svc.blobs.exists(old_orphan) and svc.blobs.key_id(crop) is None  # a dry run changes nothing

    fixed = CliRunner().invoke(app, ["fsck", "--json"], env=env)
    assert fixed.exit_code == 0, fixed.output
    assert not svc.blobs.exists(old_orphan) and svc.blobs.exists(young_orphan)
    assert svc.blobs.key_id(crop) is not None and svc.blobs.get(crop) == plain
    assert json.loads(fixed.output)["counts"]["recent_unreferenced"] == 1
    clean = CliRunner().invoke(app, ["fsck", "--json", "--deep"], env=env)
    assert clean.exit_code == 0 and json.loads(clean.output)["problems"] == []

    svc.blobs.delete(crop)  # a row whose bytes are gone: nothing to repair it with
    broken = CliRunner().invoke(app, ["fsck"], env=env)
    assert broken.exit_code == 1 and "missing_blob" in broken.output


def test_fsck_deep_finds_a_blob_that_fails_authentication(tmp_path, services, astronaut_bgr):
    svc, _record_id, blobs = _indexed(tmp_path, services, astronaut_bgr)
    sha = sorted(blobs)[0]
    raw = bytearray(svc.blobs.path(sha).read_bytes())
    raw[-1] ^= 0xFF
    svc.blobs.path(sha).write_bytes(bytes(raw))
    assert svc.protection.fsck().as_dict()["ok"]  # the quick check reads headers only
    report = svc.protection.fsck(deep=True)
    assert [p["kind"] for p in report.unrepaired] == ["damaged_blob"]


def test_fsck_keeps_blobs_that_sightings_and_queued_jobs_point_at(tmp_path, services, astronaut_bgr):
    """Every table that stores blobs counts as a reference (store.blobrefs), or fsck would
    take a swept video or a queued upload for an orphan."""
    from matcher.store.tables import JobRow, SightingSource

    svc, _, _ = _indexed(tmp_path, services, astronaut_bgr)
    swept = svc.blobs.put(b"a swept video" * 100)
    queued = svc.blobs.put(b"a video waiting for its job" * 100)
    for sha in (swept, queued):
        os.utime(svc.blobs.path(sha), (time.time() - 7200, time.time() - 7200))
    with svc.sessions.begin() as session:
        session.add(SightingSource(sha256=swept, kind="video", size_bytes=1300, swept_by="user:rev"))
        session.add(JobRow(id="j1", kind="video", payload={"blob": queued}, state="queued"))
    report = svc.protection.fsck()
    assert report.problems == [] and svc.blobs.exists(swept) and svc.blobs.exists(queued)


def test_service_timer_runs_the_sweep_at_start(tmp_path, services, astronaut_bgr, monkeypatch):
    """`matcher serve` starts a daemon thread that finishes erasures at once (then every
    MATCHER_RETENTION_SWEEP_HOURS, with fsck and retention)."""
    svc, record_id, blobs = _indexed(tmp_path, services, astronaut_bgr)
    monkeypatch.setattr(BlobStore, "delete", lambda self, sha: False)  # the erasure's deletion "crashes"
    svc.records.erase(SystemPrincipal("test"), record_id)
    monkeypatch.undo()
    assert all(svc.blobs.exists(s) for s in blobs)
    served = _fresh(tmp_path, services, retention_sweep_hours=0.001)
    thread = served.protection.start_timer()
    try:
        deadline = time.monotonic() + 30
        while any(served.blobs.exists(s) for s in blobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(served.blobs.exists(s) for s in blobs)
        assert thread.is_alive() and served.protection.start_timer() is thread  # one timer per process
    finally:
        served.protection.stop_timer()
        thread.join(timeout=30)
    assert not thread.is_alive()
