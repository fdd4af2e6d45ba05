"""`matcher backup` / `matcher restore` (erasures after the backup re-applied from
the erasure log) and retention (`matcher retention`)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.container import Services
from matcher.errors import BackupError, DataKeyError, MediaPurgedError
from matcher.ingest.archive import ArchiveItem, scan_folder
from matcher.ingest.indexer import ArchiveIndexer
from matcher.store import repo
from matcher.store.tables import AuditEvent, Candidate, Erasure, Face, Media, Record
from matcher.types import Principal
from tests.conftest import make_settings

ADMIN = Principal(0, "admin", "admin", 0)


def _services(root: Path, services: Services, **overrides) -> Services:
    svc = Services(make_settings(root, **overrides))
    svc.analyzer.reuse_models(services.analyzer)
    return svc


def _restore_target(tmp_path: Path, source: Services, services: Services, **overrides) -> Services:
    """Another DATA_DIR, with the source's key file and erasure log (which live outside it)."""
    s = source.settings
    return _services(tmp_path / "restored" / "var", services, data_key_file=s.data_key_path, erasure_log=s.erasure_log_path, **overrides)


def _split(labelled_photos, root: Path, identities: int = 8) -> list[Path]:
    """A folder per identity on each side: the last photo is the family's, the rest the
    shelter's. Returns the family photos (the probes)."""
    by_id: dict[str, list[Path]] = {}
    for p in labelled_photos:
        by_id.setdefault(p.identity, []).append(p.path)
    probes = []
    for identity, paths in sorted((k, v) for k, v in by_id.items() if len(v) >= 2)[:identities]:
        for side, chosen in (("children", paths[:-1]), ("reports", paths[-1:])):
            folder = root / side / identity
            folder.mkdir(parents=True)
            for p in chosen:
                (folder / p.name).symlink_to(p)
        probes.append(paths[-1])
    return probes


def _search(svc: Services, probes: list[Path]) -> list[list[tuple[str, float]]]:
    out = []
    for probe in probes:
        _, hits = svc.search.photo(probe.read_bytes(), "child", 5, "cli:test", "staff")
        out.append([(h.as_dict()["record_id"], round(h.as_dict()["score"], 5)) for h in hits])
    return out


def _queue(svc: Services) -> list[tuple]:
    return [(r["id"], r["kind"], r["report_id"], r["child_id"], round(r["score"], 6), r["status"]) for r in svc.review.queue(None, limit=10_000)]


@pytest.mark.slow
def test_backup_while_writing_then_restore_gives_same_search_queue_and_chain(tmp_path, services, labelled_photos):
    root = tmp_path / "archive"
    probes = _split(labelled_photos, root)
    svc = _services(tmp_path / "live" / "var", services)
    for side, folder in (("child", "children"), ("report", "reports")):
        ArchiveIndexer(svc, side).run(scan_folder(root / folder))
    with svc.sessions() as session:
        svc.match_records(list(session.scalars(select(Record.id))))
    queue = _queue(svc)
    assert queue, "matching made no candidates"
    svc.review.decide(queue[0][0], "unsure", "user:rev", "check the ears")

    stop, written = threading.Event(), []

    def busy() -> None:  # the service keeps writing while the backup runs
        while not stop.is_set():
            with svc.sessions.begin() as session:
                repo.audit(session, "user:rev", "reviewer", "candidate_view", "candidate", str(queue[0][0]))
            written.append(1)

    writer = threading.Thread(target=busy)
    writer.start()
    try:
        result = CliRunner().invoke(app, ["backup", str(tmp_path / "backup"), "--json"], env=_env(svc))
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert written, "nothing was written during the backup"
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["database"]["kind"] == "sqlite" and manifest["vanished"] == []
    assert len(manifest["blobs"]) == svc.blobs.count() and manifest["key_ids"] == [svc.blobs.keys.ring().active]
    assert not any(p.name.endswith(".key") for p in (tmp_path / "backup").rglob("*"))  # the key is not in the backup

    # after the backup: one child is erased (it must not come back)
    with svc.sessions() as session:
        erased = session.scalars(select(Record).where(Record.side == "child").order_by(Record.id)).first()
        erased_id, erased_number = erased.id, erased.external_id
        erased_blobs = set(session.scalars(select(Media.sha256).where(Media.record_id == erased_id)))
    svc.records.erase(ADMIN, erased_id)

    restored = _restore_target(tmp_path, svc, services)
    out = CliRunner().invoke(app, ["restore", str(tmp_path / "backup"), "--json"], env=_env(restored))
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["erasures_reapplied"] == 1 and body["audit_ok"]

    with restored.sessions() as session:
        assert session.get(Record, erased_id) is None
        assert session.scalar(select(Erasure).where(Erasure.external_id == erased_number)) is not None
    assert not any(restored.blobs.exists(s) for s in erased_blobs)
    assert _search(restored, probes) == _search(svc, probes)
    assert _queue(restored) == _queue(svc)
    assert restored.protection.fsck(dry_run=True).problems == []
    # the restored chain starts with the backed-up rows, unchanged
    n = manifest["audit"]["rows"]
    with svc.sessions() as a, restored.sessions() as b:
        live = a.scalars(select(AuditEvent.hash).order_by(AuditEvent.id).limit(n)).all()
        back = b.scalars(select(AuditEvent.hash).order_by(AuditEvent.id).limit(n)).all()
    assert live == back and live[-1] == manifest["audit"]["head"]
    actions = [e["action"] for e in restored.audit.events(limit=100_000)][n:]
    assert actions[0] == "restore" and "erasure_reapplied" in actions


def _env(svc: Services) -> dict:
    s = svc.settings
    env = {"MATCHER_DATA_DIR": str(s.data_dir), "MATCHER_DATA_KEY_FILE": str(s.data_key_path), "MATCHER_ERASURE_LOG": str(s.erasure_log_path)}
    if s.database_url:
        env["MATCHER_DATABASE_URL"] = s.database_url
    return env


def _small_world(root: Path, services: Services, astronaut_bgr, **overrides) -> Services:
    svc = _services(root, services, **overrides)
    photos = root.parent / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name, img in (("a.jpg", astronaut_bgr), ("b.jpg", np.ascontiguousarray(astronaut_bgr[:, ::-1]))):
        (photos / name).write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    ArchiveIndexer(svc, "child").run([ArchiveItem("C-1", photos / "a.jpg"), ArchiveItem("C-2", photos / "b.jpg")])
    ArchiveIndexer(svc, "report").run([ArchiveItem("R-1", photos / "b.jpg")])
    with svc.sessions() as session:
        svc.match_records(list(session.scalars(select(Record.id))))
    return svc


def test_backup_and_restore_on_sqlite_and_postgresql(tmp_path, services, astronaut_bgr, database_url, postgres_server_or_none):
    svc = _small_world(tmp_path / "live" / "var", services, astronaut_bgr, database_url=database_url)
    before = _queue(svc)
    result = svc.protection.backup(tmp_path / "backup", "cli:test")
    assert result["database"]["kind"] == ("postgresql" if database_url else "sqlite")
    with svc.sessions() as session:
        c1 = session.scalar(select(Record.id).where(Record.external_id == "C-1"))
    svc.records.erase(ADMIN, c1)
    target_url = postgres_server_or_none.new_database() if database_url else None
    restored = _restore_target(tmp_path, svc, services, database_url=target_url)
    out = restored.protection.restore(tmp_path / "backup", "cli:test")
    assert out["erasures_reapplied"] == 1 and out["audit_ok"], out
    assert _queue(restored) == _queue(svc) and len(before) >= len(_queue(svc))
    with restored.sessions() as session:
        assert session.scalar(select(Record.id).where(Record.external_id == "C-1")) is None
        assert list(session.scalars(select(Record.external_id).order_by(Record.id))) == ["C-2", "R-1"]
    assert restored.protection.fsck(dry_run=True).problems == []


@pytest.fixture
def postgres_server_or_none(request, database_url):
    return request.getfixturevalue("postgres_server") if database_url else None


def test_restore_refuses_a_damaged_backup_a_used_folder_and_a_missing_key(tmp_path, services, astronaut_bgr):
    svc = _small_world(tmp_path / "live" / "var", services, astronaut_bgr)
    svc.protection.backup(tmp_path / "backup", "cli:test")
    with pytest.raises(BackupError, match="not empty"):
        svc.protection.backup(tmp_path / "backup", "cli:test")
    with pytest.raises(BackupError, match=r"exists|holds blobs"):
        svc.protection.restore(tmp_path / "backup", "cli:test")  # into the live folder

    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "backup", damaged)
    blob = next(p for p in (damaged / "blobs").rglob("*") if p.is_file())
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    target = _restore_target(tmp_path, svc, services)
    with pytest.raises(BackupError, match="altered"):
        target.protection.restore(damaged, "cli:test")
    assert not (target.settings.data_dir / "matcher.db").exists()

    keyless = _services(tmp_path / "keyless" / "var", services)
    with pytest.raises(DataKeyError, match="put the key file"):
        keyless.protection.restore(tmp_path / "backup", "cli:test")
    assert not (keyless.settings.data_dir / "matcher.db").exists()


# ---- retention ----------------------------------------------------------------------
def _age(svc: Services, days: float) -> None:
    """Move every timestamp `days` into the past (as if the data were that old)."""
    then = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
    with svc.sessions.begin() as session:
        session.execute(update(Media).values(received_at=then))
        session.execute(update(Record).values(updated_at=then))
        session.execute(update(Candidate).values(updated_at=then))


def test_retention_is_off_by_default(tmp_path, services, astronaut_bgr):
    svc = _small_world(tmp_path / "var", services, astronaut_bgr)
    _age(svc, 10_000)
    out = svc.protection.retention()
    assert (out["originals_purged"], out["records_erased"], out["evidence_trimmed"]) == (0, 0, 0)


def test_retention_purges_originals_but_keeps_crops_and_matching(tmp_path, services, astronaut_bgr):
    svc = _small_world(tmp_path / "var", services, astronaut_bgr, retention_originals_days=30)
    with svc.sessions() as session:
        media = session.scalars(select(Media).order_by(Media.id)).all()
        crops = set(session.scalars(select(Face.crop_sha256)))
    assert svc.protection.retention()["originals_purged"] == 0  # not old enough yet
    _age(svc, 31)
    env = {"MATCHER_DATA_DIR": str(svc.settings.data_dir), "MATCHER_RETENTION_ORIGINALS_DAYS": "30"}
    dry = CliRunner().invoke(app, ["retention", "--dry-run", "--json"], env=env)
    assert json.loads(dry.output)["originals_purged"] == 3 and all(svc.blobs.exists(m.sha256) for m in media)
    run = CliRunner().invoke(app, ["retention", "--json"], env=env)
    assert run.exit_code == 0 and json.loads(run.output)["originals_purged"] == 3
    assert not any(svc.blobs.exists(m.sha256) for m in media)
    assert all(svc.blobs.exists(c) for c in crops)
    with svc.sessions() as session:
        assert all(m.purged_at is not None for m in session.scalars(select(Media)))
        audited = session.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "retention_purge_original")).all()
    assert sorted(audited) == sorted(str(m.id) for m in media)
    with pytest.raises(MediaPurgedError):
        svc.records.image(ADMIN, media[0].id)
    assert svc.records.crop(ADMIN, 1)[:3] == b"\xff\xd8\xff"
    assert svc.protection.fsck(dry_run=True).problems == []  # purged originals are not "missing"
    assert svc.protection.verify_audit().ok
    assert svc.protection.retention()["originals_purged"] == 0  # idempotent


def test_retention_erases_closed_cases_and_trims_rejected_evidence(tmp_path, services, astronaut_bgr):
    svc = _small_world(tmp_path / "var", services, astronaut_bgr, retention_closed_days=365, retention_rejected_days=90)
    queue = svc.review.queue(None, limit=100)
    match = next(c for c in queue if c["kind"] == "match")
    svc.review.decide(match["id"], "rejected", "user:rev", "not the same child")
    with svc.sessions.begin() as session:
        session.execute(update(Record).where(Record.external_id == "C-2").values(status="closed"))
        session.execute(update(Record).where(Record.external_id == "R-1").values(status="withdrawn"))
    _age(svc, 100)  # past the evidence limit, not the closed-case one
    out = svc.protection.retention()
    assert (out["records_erased"], out["evidence_trimmed"]) == (0, 1)
    with svc.sessions() as session:
        evidence = session.get(Candidate, match["id"]).evidence
    assert "pairs" not in evidence and "raw_score" in evidence and "trimmed_at" in evidence
    _age(svc, 400)
    out = svc.protection.retention()
    assert (out["records_erased"], out["evidence_trimmed"]) == (2, 0)
    with svc.sessions() as session:
        assert session.scalars(select(Record.external_id)).all() == ["C-1"]
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "system:retention")).all()
    assert actions.count("retention_erase") == 2 and actions.count("retention_trim_evidence") == 1
    assert svc.protection.verify_audit().ok
    assert _erasure_log_numbers(svc) == ["C-2", "R-1"]


def _erasure_log_numbers(svc: Services) -> list[str]:
    from matcher.store import erasurelog

    return sorted(e.number for e in erasurelog.read(svc.settings.erasure_log_path))
