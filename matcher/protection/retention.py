"""Retention (``MATCHER_RETENTION_*``; 0 = keep, the default for all three).

* ``ORIGINALS_DAYS``: a media original (photo or video) is purged this many days after its
  faces were extracted (``received_at``: analysis happens on arrival), when it gave at
  least one face. Face crops and embeddings stay, so matching and review go on; the media
  row stays with ``purged_at`` set, and viewing the original answers 410.
* ``CLOSED_DAYS``: closed and withdrawn records are erased (the normal erasure: files,
  faces, embeddings, index entries, candidates; a tombstone stays) this many days after
  their last change (closing is the last change of a closed record).
* ``REJECTED_DAYS``: a rejected candidate's evidence is trimmed to its scores this many
  days after the rejection: face pairs, cohorts, age details and the names' forms go; the
  raw score stays (a rejected pair returns only with stronger evidence).

Every purge is one audit row (actor ``system:retention``). Idempotent: a second run finds
nothing more to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

from sqlalchemy import select

from matcher.errors import NotFoundError
from matcher.protection.needs import ProtectionServices
from matcher.store import repo
from matcher.store.tables import Candidate, Face, Media, Record, utcnow
from matcher.types import CandidateStatus, RecordStatus, Role, SystemPrincipal

log = logging.getLogger(__name__)
ACTOR = "system:retention"
KEPT_EVIDENCE = ("fusion", "score_norm", "raw_score", "fmr_in_words", "fpir", "strong", "plausible", "flags")
BATCH = 500


def trim_evidence(evidence: dict, at: dt.datetime) -> dict:
    kept = {k: evidence[k] for k in KEPT_EVIDENCE if k in evidence}
    return {**kept, "trimmed_at": at.isoformat(timespec="seconds")}


def apply_retention(services: ProtectionServices, dry_run: bool = False, now: dt.datetime | None = None) -> dict:
    s = services.settings
    now = now or utcnow()
    out = {
        "dry_run": dry_run,
        "policy": {"originals_days": s.retention_originals_days, "closed_days": s.retention_closed_days, "rejected_days": s.retention_rejected_days},
    }
    out["originals_purged"] = _purge_originals(services, now - dt.timedelta(days=s.retention_originals_days), now, dry_run) if s.retention_originals_days else 0
    if s.retention_closed_days:
        cutoff = now - dt.timedelta(days=s.retention_closed_days)
        with services.sessions() as session:
            due = list(
                session.scalars(
                    select(Record.id).where(Record.status.in_((RecordStatus.CLOSED, RecordStatus.WITHDRAWN)), Record.updated_at < cutoff).order_by(Record.id)
                )
            )
        if not dry_run:
            principal = SystemPrincipal("retention")
            for record_id in due:
                with contextlib.suppress(NotFoundError):  # erased meanwhile
                    services.records.erase(principal, record_id, reason="retention_erase")
        out["records_erased"] = len(due)
    else:
        out["records_erased"] = 0
    out["evidence_trimmed"] = _trim_rejected(services, now - dt.timedelta(days=s.retention_rejected_days), now, dry_run) if s.retention_rejected_days else 0
    if not dry_run and (out["originals_purged"] or out["records_erased"] or out["evidence_trimmed"]):
        log.warning(
            "retention: %d original(s) purged, %d record(s) erased, %d evidence trimmed",
            out["originals_purged"],
            out["records_erased"],
            out["evidence_trimmed"],
        )
    return out


def _purge_originals(services: ProtectionServices, cutoff: dt.datetime, now: dt.datetime, dry_run: bool) -> int:
    with services.sessions() as session:
        due = list(session.scalars(select(Media.id).where(Media.purged_at.is_(None), Media.face_count > 0, Media.received_at < cutoff).order_by(Media.id)))
    if dry_run:
        return len(due)
    for start in range(0, len(due), BATCH):
        with services.sessions.begin() as session:
            rows = session.scalars(select(Media).where(Media.id.in_(due[start : start + BATCH]), Media.purged_at.is_(None))).all()
            hashes = set()
            for media in rows:
                media.purged_at = now
                hashes.add(media.sha256)
                repo.audit(session, ACTOR, Role.SYSTEM, "retention_purge_original", "media", str(media.id), record=media.record_id, kind=media.kind)
        _delete_unused_originals(services, hashes)
    return len(due)


def _delete_unused_originals(services: ProtectionServices, hashes: set[str]) -> None:
    """After the commit: blobs no unpurged media row and no crop points at (a crash before
    this leaves orphans, which ``matcher fsck`` and the daily sweep remove)."""
    with services.sessions() as session:
        for sha in hashes:
            used = session.scalar(select(Media.id).where(Media.sha256 == sha, Media.purged_at.is_(None)).limit(1))
            used = used or session.scalar(select(Face.id).where(Face.crop_sha256 == sha).limit(1))
            if not used:
                services.blobs.delete(sha)


def _trim_rejected(services: ProtectionServices, cutoff: dt.datetime, now: dt.datetime, dry_run: bool) -> int:
    with services.sessions() as session:
        rows = session.execute(
            select(Candidate.id, Candidate.evidence).where(Candidate.status == CandidateStatus.REJECTED, Candidate.updated_at < cutoff).order_by(Candidate.id)
        ).all()
        due = [cid for cid, ev in rows if not (ev or {}).get("trimmed_at")]
    if dry_run:
        return len(due)
    for start in range(0, len(due), BATCH):
        with services.sessions.begin() as session:
            for candidate in session.scalars(select(Candidate).where(Candidate.id.in_(due[start : start + BATCH]))):
                candidate.evidence = trim_evidence(candidate.evidence or {}, now)
                repo.audit(session, ACTOR, Role.SYSTEM, "retention_trim_evidence", "candidate", str(candidate.id))
    return len(due)
