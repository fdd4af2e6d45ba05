"""Every column that points at a blob, in one place: ``matcher fsck`` (orphans, missing
blobs), the erasure sweep and ``matcher backup`` (which blobs a snapshot needs) read them.
A new table that stores blobs adds its query here, or fsck would take its blobs for orphans.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.store.tables import Face, Media, SightingFace, SightingSource

# plain SQL, so the same text runs on a live session, a SQLite backup file and a PostgreSQL
# snapshot; a table missing from an older schema is skipped
QUERIES = {
    "media": "SELECT sha256 FROM media WHERE purged_at IS NULL",  # originals (purged ones are gone on purpose)
    "faces": "SELECT crop_sha256 FROM faces WHERE crop_sha256 IS NOT NULL",
    "sighting_sources": "SELECT sha256 FROM sighting_sources",
    "sighting_faces": "SELECT crop_sha256 FROM sighting_faces",
}
# background work that holds a blob until it runs (``jobs.queue``: payload["blob"])
JOBS = "SELECT payload FROM jobs WHERE state IN ('queued', 'running')"


def job_blobs(payloads) -> set[str]:
    out = set()
    for payload in payloads:
        body = json.loads(payload) if isinstance(payload, str) else payload
        if isinstance(body, dict) and body.get("blob"):
            out.add(body["blob"])
    return out


def referenced(execute, tables: set[str]) -> set[str]:
    """Hashes the rows point at. ``execute(sql)`` returns rows of one column; ``tables``:
    the tables the database has."""
    out: set[str] = set()
    for table, sql in QUERIES.items():
        if table in tables:
            out |= {r[0] for r in execute(sql) if r[0]}
    if "jobs" in tables:
        out |= job_blobs(r[0] for r in execute(JOBS))
    return out


def in_use(session: Session, sha256: str) -> bool:
    """Whether any row still points at this blob (media, face crop, sighting source or crop)."""
    checks = (
        select(func.count()).select_from(Media).where(Media.sha256 == sha256),
        select(func.count()).select_from(Face).where(Face.crop_sha256 == sha256),
        select(func.count()).select_from(SightingSource).where(SightingSource.sha256 == sha256),
        select(func.count()).select_from(SightingFace).where(SightingFace.crop_sha256 == sha256),
    )
    return any(session.scalar(q) for q in checks)
