"""Sightings in the database and the blob store: writing new ones, releasing a source.

Only what became a sighting is ever written: the source file (once, by sha256, through the
``BlobStore`` like every original, so it is sealed the same way), the crops of the best
frames of the matching tracks, and the rows. Every other face of the sweep is dropped with
the sweep's memory (bystanders are never enrolled). Blobs are written before the rows that
point at them (invariant 2, docs/architecture.md); blobs a failed transaction leaves are removed by the caller
(``new_blobs``), or by ``matcher fsck`` as orphans.

A rejected sighting's crops go at once (the reviewer said it is someone else); its source
goes too when no other sighting that is not rejected uses it. A rejected row stays (its
decisions, and ``source_sha256`` so the same file does not bring it back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.imaging import encode_jpeg
from matcher.sightings.probes import Footage
from matcher.sightings.sweep import Gate, Plan, evidence, face_scores
from matcher.store import repo
from matcher.store.blobrefs import in_use, job_blobs
from matcher.store.tables import JobRow, Sighting, SightingFace, SightingSource
from matcher.types import CandidateKind, CandidateStatus, JobStatus

CROPS = 5  # best frames kept per sighting


@dataclass(frozen=True)
class SourceMeta:
    """What the person sweeping said about the file (all optional but the actor)."""

    swept_by: str
    file_name: str | None = None
    taken_on: dt.date | None = None
    place: str | None = None


@dataclass(frozen=True)
class Crop:
    track: int
    time: float | None
    box: tuple[float, float, float, float]
    quality: float
    score: float
    jpeg: bytes


def existing(session: Session, sha256: str, record_ids: Iterable[int]) -> dict[int, Sighting]:
    """Sightings already made of these records from this file (any status)."""
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Sighting).where(Sighting.source_sha256 == sha256, Sighting.record_id.in_(ids)))
    return {s.record_id: s for s in rows}


def choose_crops(session: Session, plan: Plan, pack: str, dim: int) -> list[Crop]:
    """The ``CROPS`` faces of the matching tracks that look most like the record, in time order."""
    scores = face_scores(session, plan, pack, dim)
    faces = [(scores[(p.id, i)], p, i, f) for p, _ in plan.matches for i, f in enumerate(p.faces)]
    faces.sort(key=lambda t: (-t[0], t[1].id, t[2]))
    kept = faces[:CROPS]
    kept.sort(key=lambda t: (t[3].time if t[3].time is not None else 0.0, t[1].id, t[2]))
    return [Crop(p.id, f.time, (f.box.x1, f.box.y1, f.box.x2, f.box.y2), f.quality, s, encode_jpeg(f.crop, quality=92)) for s, p, _, f in kept]


def put_blobs(blobs, payloads: Iterable[bytes]) -> tuple[list[str], list[str]]:
    """Store bytes; returns (all hashes, hashes that were not stored before)."""
    hashes, new = [], []
    for data in payloads:
        sha = hashlib.sha256(data).hexdigest()
        if not blobs.exists(sha):
            new.append(sha)
        blobs.put(data)
        hashes.append(sha)
    return hashes, new


def source_row(session: Session, footage: Footage, meta: SourceMeta) -> SightingSource:
    row = session.scalar(select(SightingSource).where(SightingSource.sha256 == footage.sha256))
    if row is None:
        taken = meta.taken_on or (footage.taken_at.date() if footage.taken_at else None)
        row = SightingSource(
            sha256=footage.sha256,
            kind=footage.kind,
            file_name=meta.file_name,
            format=footage.format,
            size_bytes=footage.size_bytes,
            width=footage.width or None,
            height=footage.height or None,
            duration=footage.duration,
            taken_on=taken,
            place=meta.place,
            swept_by=meta.swept_by,
        )
        session.add(row)
        session.flush()
    return row


def source_dict(footage: Footage, meta: SourceMeta) -> dict:
    taken = meta.taken_on or (footage.taken_at.date() if footage.taken_at else None)
    return {
        "sha256": footage.sha256,
        "kind": str(footage.kind),
        "duration": footage.duration,
        "taken_on": taken.isoformat() if taken else None,
        "place": meta.place,
    }


def add_sighting(
    session: Session, source: SightingSource, plan: Plan, gate: Gate, crops: list[Crop], crop_hashes: list[str], meta: SourceMeta, source_info: dict
) -> Sighting:
    probe, hit = plan.best
    start, end = plan.span
    sighting = Sighting(
        kind=CandidateKind.SIGHTING,
        source_id=source.id,
        source_sha256=source.sha256,
        record_id=plan.record_id,
        side=plan.side,
        pack=gate.ranking.pack,
        track=probe.id,
        span_start=start,
        span_end=end,
        score=hit.score,
        raw_score=hit.raw,
        fmr=hit.fmr,
        fpir=hit.fpir,
        plausible=hit.plausible,
        status=CandidateStatus.OPEN,
        evidence=evidence(plan, gate, source_info),
        swept_by=meta.swept_by,
    )
    for crop, sha in zip(crops, crop_hashes, strict=True):
        x1, y1, x2, y2 = crop.box
        sighting.faces.append(
            SightingFace(track=crop.track, frame_time=crop.time, x1=x1, y1=y1, x2=x2, y2=y2, quality=crop.quality, score=crop.score, crop_sha256=sha)
        )
    session.add(sighting)
    session.flush()
    return sighting


# ---- releasing -------------------------------------------------------------------------
def unreferenced(session: Session, hashes: Iterable[str]) -> list[str]:
    """Those of ``hashes`` no row and no queued or running job (its upload) points at."""
    held = job_blobs(session.scalars(select(JobRow.payload).where(JobRow.state.in_((JobStatus.QUEUED, JobStatus.RUNNING)))))
    return [h for h in dict.fromkeys(hashes) if h not in held and not in_use(session, h)]


def release_rejected(session: Session, sighting: Sighting, actor: str, role: str, request_id: str | None = None) -> set[str]:
    """Drop a rejected sighting's crops, and its source when no sighting that is not rejected
    uses it. Returns the blob hashes to delete after the commit (those no row uses then)."""
    hashes = {f.crop_sha256 for f in sighting.faces}
    sighting.faces.clear()
    source = session.get(SightingSource, sighting.source_id) if sighting.source_id is not None else None
    if source is not None:
        others = session.scalar(
            select(func.count())
            .select_from(Sighting)
            .where(Sighting.source_id == source.id, Sighting.id != sighting.id, Sighting.status != CandidateStatus.REJECTED)
        )
        if not others:
            for other in session.scalars(select(Sighting).where(Sighting.source_id == source.id, Sighting.id != sighting.id)):
                hashes |= {f.crop_sha256 for f in other.faces}  # rejected ones: already empty
                other.faces.clear()
                other.source_id = None
            sighting.source_id = None
            hashes.add(source.sha256)
            session.flush()
            session.delete(source)
            repo.audit(session, actor, role, "sighting_source_erased", "sighting_source", str(source.id), request_id, sighting=sighting.id)
    session.flush()
    return {h for h in hashes if not in_use(session, h)}


def forget_record(session: Session, record_id: int) -> set[str]:
    """Before a record is erased: delete its sightings, their crops' rows and the sources no
    other record's open (not rejected) sighting uses. Returns the blob hashes to delete after
    the commit."""
    mine = session.scalars(select(Sighting).where(Sighting.record_id == record_id)).all()
    hashes = {f.crop_sha256 for s in mine for f in s.faces}
    sources = {s.source_id for s in mine if s.source_id is not None}
    for s in mine:
        session.delete(s)
    session.flush()
    for source_id in sources:
        live = select(func.count()).select_from(Sighting).where(Sighting.source_id == source_id, Sighting.status != CandidateStatus.REJECTED)
        if not session.scalar(live):  # only rejected sightings (their crops already gone) still point at it
            for other in session.scalars(select(Sighting).where(Sighting.source_id == source_id)):
                other.source_id = None
            source = session.get(SightingSource, source_id)
            hashes.add(source.sha256)
            session.flush()
            session.delete(source)
    session.flush()
    return {h for h in hashes if not in_use(session, h)}
