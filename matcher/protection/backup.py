"""``matcher backup OUT`` and ``matcher restore IN``.

A backup is a folder: the database (SQLite: a copy made with SQLite's online backup API;
PostgreSQL: ``pg_dump --format=custom`` of an exported snapshot), the blobs the snapshot
points at, copied still sealed (the key is NOT in the backup: keep the key file apart), and
``manifest.json`` with the sha256 of every file, the key ids that seal the blobs and the
audit chain's head. The manifest is written last: a folder without one is not a backup.
It is consistent while the service runs: the database is one snapshot, and a blob is
never deleted while a row points at it, so every blob the snapshot names is copied, unless
an erasure after the snapshot removed it (listed as ``vanished``; the restore re-applies
that erasure).

A restore goes into an empty ``DATA_DIR`` (and, for PostgreSQL, an empty database):
files are checked against the manifest, the key file must hold every key id, the schema
is brought to the current revision, then every tombstone of the erasure log outside
``DATA_DIR`` (``store.erasurelog``) that the backup lacks is re-applied, so that a child
erased after the backup does not come back; indexes are rebuilt and retention applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect, select

from matcher.errors import BackupError, DataKeyError
from matcher.files import atomic_write, sha256_file
from matcher.protection.fsck import FsckReport, check_indexes, references
from matcher.protection.needs import ProtectionServices
from matcher.store import blobrefs, erasurelog, repo
from matcher.store.blobs import BlobStore
from matcher.store.crypto import load_keyring, sealed_key_id
from matcher.store.db import make_engine
from matcher.store.tables import Erasure, utcnow
from matcher.types import Role, SystemPrincipal

FORMAT = "matcher-backup"
SQLITE_FILE = "matcher.db"
PG_FILE = "database.dump"


def _libpq_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _sqlite_path(services: ProtectionServices) -> Path:
    return Path(services.settings.sqlalchemy_url.removeprefix("sqlite:///"))


def _snapshot_sqlite(services: ProtectionServices, out: Path) -> tuple[set[str], dict]:
    target = out / SQLITE_FILE
    source = sqlite3.connect(_sqlite_path(services), timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # the online backup API: one consistent snapshot, writers keep going
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        hashes = blobrefs.referenced(copy.execute, tables)
        head = copy.execute("SELECT hash, rows FROM audit_chain WHERE id = 1").fetchone()
        revision = copy.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        copy.close()
        source.close()
    return hashes, {"kind": "sqlite", "file": SQLITE_FILE, "revision": revision[0] if revision else None, "audit": head}


def _snapshot_postgres(services: ProtectionServices, out: Path) -> tuple[set[str], dict]:
    import psycopg

    url = _libpq_url(services.settings.sqlalchemy_url)
    with psycopg.connect(url) as conn:  # holds the snapshot pg_dump reads
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        hashes = blobrefs.referenced(conn.execute, tables)
        head = conn.execute("SELECT hash, rows FROM audit_chain WHERE id = 1").fetchone()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        dump = subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}", f"--file={out / PG_FILE}", f"--dbname={url}"],
            capture_output=True,
            text=True,
            timeout=24 * 3600,
        )
        if dump.returncode != 0:
            raise BackupError(f"pg_dump failed: {dump.stderr.strip()[:500]}")
    return hashes, {"kind": "postgresql", "file": PG_FILE, "revision": revision[0] if revision else None, "audit": head}


def write_backup(services: ProtectionServices, out: Path, actor: str) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; a backup goes into a new folder")
    if out.resolve().is_relative_to(services.settings.data_dir.resolve()):
        raise BackupError("a backup inside DATA_DIR would be copied into the next backup; choose a folder outside it")
    out.mkdir(parents=True, exist_ok=True)
    with services.sessions.begin() as session:  # in the backup: who made it, when
        repo.audit(session, actor, Role.STAFF, "backup", "backup", None)
    postgres = services.engine.dialect.name == "postgresql"
    hashes, db = (_snapshot_postgres if postgres else _snapshot_sqlite)(services, out)
    blobs: BlobStore = services.blobs
    copied: dict[str, str] = {}
    vanished: list[str] = []
    key_ids: set[str] = set()
    for sha in sorted(hashes):
        try:
            raw = blobs.path(sha).read_bytes()
        except FileNotFoundError:
            vanished.append(sha)  # erased after the snapshot (or purged): the restore re-applies it
            continue
        target = out / "blobs" / sha[:2] / sha[2:4] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        copied[sha] = hashlib.sha256(raw).hexdigest()
        key_ids.add(sealed_key_id(raw) or "clear")
    head = db.pop("audit")
    manifest = {
        "format": FORMAT,
        "version": 1,
        "created_at": utcnow().isoformat(timespec="seconds") + "Z",
        "database": {**db, "sha256": sha256_file(out / db["file"])},
        "blobs": copied,
        "vanished": vanished,
        "key_ids": sorted(key_ids),
        "audit": {"head": head[0] if head else None, "rows": head[1] if head else 0},
    }
    _fsync_tree(out)
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    return {
        "path": str(out),
        "blobs": len(copied),
        "vanished": len(vanished),
        "database": manifest["database"],
        "key_ids": manifest["key_ids"],
        "audit": manifest["audit"],
    }


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# ---- restore ----
def read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / "manifest.json").read_bytes())
    except FileNotFoundError:
        raise BackupError(f"{source} has no manifest.json: not a finished matcher backup") from None
    except ValueError:
        raise BackupError(f"{source}/manifest.json is damaged") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != 1:
        raise BackupError(f"{source} is not a matcher backup this version can read")
    return manifest


def check_files(source: Path, manifest: dict) -> None:
    """Every file against the manifest's sha256 (before anything is restored)."""
    bad = []
    db = manifest["database"]
    if not (source / db["file"]).is_file() or sha256_file(source / db["file"]) != db["sha256"]:
        bad.append(db["file"])
    for sha, file_sha in manifest["blobs"].items():
        path = source / "blobs" / sha[:2] / sha[2:4] / sha
        if not path.is_file() or sha256_file(path) != file_sha:
            bad.append(f"blobs/{sha[:12]}…")
    if bad:
        raise BackupError(f"{len(bad)} file(s) of the backup are missing or altered (first: {', '.join(bad[:5])}); nothing was restored")


def _check_target(services: ProtectionServices, postgres: bool) -> None:
    settings = services.settings
    blob_root = settings.data_dir / "blobs"
    if any(BlobStore(blob_root).hashes()):
        raise BackupError(f"{blob_root} already holds blobs; restore into an empty DATA_DIR")
    if postgres:
        engine = make_engine(settings.sqlalchemy_url)
        try:
            tables = inspect(engine).get_table_names()
        finally:
            engine.dispose()
        if tables:
            raise BackupError("the target database is not empty; restore into a new, empty database")
    elif _sqlite_path(services).exists():
        raise BackupError(f"{_sqlite_path(services)} exists; restore into an empty DATA_DIR")


def _check_keys(services: ProtectionServices, manifest: dict) -> None:
    needed = [k for k in manifest["key_ids"] if k != "clear"]
    if not needed:
        return
    path = services.settings.data_key_path
    if not path.exists():
        raise DataKeyError(
            f"the backup's blobs are sealed with data key(s) {', '.join(needed)}; put the key file that holds them at {path} (MATCHER_DATA_KEY_FILE)"
        )
    ring = load_keyring(path)
    lacking = [k for k in needed if k not in ring.keys]
    if lacking:
        raise DataKeyError(f"the key file {path} lacks data key(s) {', '.join(lacking)} that seal the backup's blobs")


def _restore_database(services: ProtectionServices, source: Path, manifest: dict, postgres: bool) -> None:
    settings = services.settings
    file = source / manifest["database"]["file"]
    if postgres != (manifest["database"]["kind"] == "postgresql"):
        raise BackupError(f"this backup holds a {manifest['database']['kind']} database; MATCHER_DATABASE_URL points at another kind")
    if postgres:
        done = subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={_libpq_url(settings.sqlalchemy_url)}", str(file)],
            capture_output=True,
            text=True,
            timeout=24 * 3600,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed: {done.stderr.strip()[:500]}")
        return
    target = _sqlite_path(services)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore.tmp")
    shutil.copyfile(file, tmp)
    os.replace(tmp, target)


def restore_backup(services: ProtectionServices, source: Path, actor: str) -> dict:
    source = Path(source)
    manifest = read_manifest(source)
    postgres = services.settings.sqlalchemy_url.startswith("postgresql")
    _check_target(services, postgres)
    check_files(source, manifest)
    _check_keys(services, manifest)
    blob_root = services.settings.data_dir / "blobs"
    for sha in manifest["blobs"]:  # blobs before the rows that point at them
        atomic_write(blob_root / sha[:2] / sha[2:4] / sha, (source / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes())
    _restore_database(services, source, manifest, postgres)
    with services.sessions.begin() as session:  # services.engine migrates an older backup to the current schema
        repo.audit(session, actor, Role.STAFF, "restore", "backup", None, backup_created_at=manifest["created_at"], audit_rows=manifest["audit"]["rows"])
    reapplied = reapply_erasures(services, SystemPrincipal("restore"))
    # blobs erased while the backup was copied: their records must have been erased again now
    still_needed = set(manifest.get("vanished", ())) & references(services).all
    sweep = services.protection.startup_sweep()
    indexes = FsckReport()
    check_indexes(services, indexes, act=True)
    retention = services.protection.retention()
    chain = services.protection.verify_audit()
    return {
        "blobs": len(manifest["blobs"]),
        "database": manifest["database"]["kind"],
        "backup_created_at": manifest["created_at"],
        "erasures_reapplied": len(reapplied),
        "sweep": sweep,
        "indexes_rebuilt": sum(p["count"] for p in indexes.problems),
        "retention": retention,
        "audit": chain.line(),
        "audit_ok": chain.ok,
        "missing_blobs": len(still_needed),  # > 0: erased after the snapshot but absent from the erasure log
    }


def reapply_erasures(services: ProtectionServices, principal) -> list[tuple[str, str]]:
    """Tombstones of the erasure log the database lacks: the record (if the database has it,
    created before the erasure) is erased again; otherwise the tombstone is copied, so the
    files cannot be re-imported unasked. Returns (side, number) of each."""
    logged = erasurelog.read(services.settings.erasure_log_path)
    with services.sessions() as session:
        have = {(e.side, e.external_id, e.erased_at.isoformat(timespec="microseconds")) for e in session.scalars(select(Erasure))}
    done = []
    for entry in logged:
        if entry.key in have:
            continue
        have.add(entry.key)
        with services.sessions() as session:
            record = repo.get_record(session, entry.side, entry.number)
            record_id = record.id if record is not None and record.created_at <= entry.erased_at else None
        if record_id is not None:
            services.records.erase(principal, record_id, reason="erasure_reapplied")
        else:
            with services.sessions.begin() as session:
                session.add(
                    Erasure(
                        side=entry.side,
                        external_id=entry.number,
                        media_sha256=list(entry.media_sha256),
                        blob_sha256=list(entry.blob_sha256),
                        erased_at=entry.erased_at,
                        erased_by=entry.erased_by,
                    )
                )
                repo.audit(session, principal.actor, principal.role, "erasure_reapplied", entry.side, None, number=entry.number, record="not in the backup")
        done.append((entry.side, entry.number))
    return done
