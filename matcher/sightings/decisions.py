"""Decisions on sightings: the review state machine of ``review.decisions`` (same
transitions, same two-person rule), audited, with what is particular to a sighting:

* confirming records where and when the child was seen; it does **not** close the record
  (the child is not found yet) and the family's status does not change;
* rejecting drops the crops at once and the source file when no other sighting needs it
  (``sightings.persist.release_rejected``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import NotFoundError
from matcher.review.decisions import next_status
from matcher.sightings.persist import release_rejected
from matcher.store import repo
from matcher.store.tables import Sighting, SightingDecision, SightingSource
from matcher.types import CandidateStatus, Role, Verdict


def decide_sighting(
    session: Session,
    sighting_id: int,
    verdict: str,
    reviewer: str,
    note: str | None,
    two_person_rule: bool,
    role: str = Role.REVIEWER,
    request_id: str | None = None,
) -> tuple[Sighting, set[str]]:
    """Apply a verdict; returns the sighting and the blobs to delete once this commits."""
    sighting = session.get(Sighting, sighting_id)
    if sighting is None:
        raise NotFoundError(f"no sighting {sighting_id}")
    verdict, new_status = next_status(
        "sighting",
        sighting_id,
        sighting.status,
        verdict,
        reviewer,
        two_person_rule,
        lambda: session.scalar(
            select(SightingDecision.reviewer)
            .where(SightingDecision.sighting_id == sighting.id, SightingDecision.verdict == Verdict.CONFIRMED)
            .order_by(SightingDecision.id.desc())
            .limit(1)
        ),
    )
    session.add(SightingDecision(sighting_id=sighting.id, verdict=verdict, reviewer=reviewer, note=note))
    previous = sighting.status
    sighting.status = new_status
    seen = {}
    if new_status == CandidateStatus.CONFIRMED:
        source = session.get(SightingSource, sighting.source_id) if sighting.source_id is not None else None
        seen = {
            "record": sighting.record_id,
            "source": sighting.source_sha256[:12],
            "span": [None if v is None else round(v, 2) for v in (sighting.span_start, sighting.span_end)],
            "taken_on": source.taken_on.isoformat() if source is not None and source.taken_on else None,
        }
    repo.audit(
        session,
        reviewer,
        role,
        "sighting_decision",
        "sighting",
        str(sighting.id),
        request_id,
        verdict=verdict,
        previous=previous,
        status=new_status,
        note=note,
        **({"seen": seen} if seen else {}),
    )
    erase: set[str] = set()
    if new_status == CandidateStatus.REJECTED:
        erase = release_rejected(session, sighting, reviewer, role, request_id)
    return sighting, erase
