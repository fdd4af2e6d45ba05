"""Review use cases: match records, the candidate queue (plain and filtered), one candidate
with both records (audited), decisions, and the dicts reviewers see of candidates.

Invariant 4: candidates, scores and evidence are for reviewers and admins only; callers
(CLI, API, pages) check the role, and every candidate view and decision is audited here
or in ``matcher.review.decisions``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import CandidateNotFound
from matcher.review.decisions import decide
from matcher.review.matching import match_pending, strength_key
from matcher.review.normalization import prior_cohort
from matcher.review.upkeep import refresh_cohorts
from matcher.store import repo
from matcher.store.models import Candidate, Decision, Face, Record
from matcher.types import CandidateStatus, MediaKind, Role, Side

# evidence flags a reviewer can filter the queue by (set by ``matcher.review.age``)
FLAGS = ("birth_year_mismatch", "found_before_last_seen", "photo_before_birth", "sex_mismatch", "dates_missing")
RECORD_FIELDS = ("side", "external_id", "name", "sex", "birth_year", "shelter", "event_on", "event_at", "languages", "notes", "status")


def candidate_dict(session: Session, c: Candidate) -> dict:
    """A candidate as reviewers see it in lists: both record numbers, score, rate, status."""
    report, child = session.get(Record, c.report_id), session.get(Record, c.child_id)
    return {"id": c.id, "kind": c.kind, "report_id": report.external_id, "child_id": child.external_id, "score": round(c.score, 4), "fmr": c.fmr, "status": c.status, "evidence": c.evidence}


def record_dict(record: Record) -> dict:
    """What a reviewer sees of a record (the family contact stays with staff)."""
    return {f: (str(getattr(record, f)) if f == "event_on" and getattr(record, f) else getattr(record, f)) for f in RECORD_FIELDS}


class ReviewService:
    def __init__(self, services) -> None:
        self.services = services

    # ---- matching ----
    def match(self, record_ids: list[int], pack: str | None = None) -> int:
        """Match records that got new faces against the other side (and their own, for duplicates)."""
        return match_pending(self.services, record_ids, pack)

    def refresh_cohorts(self, pack: str | None = None) -> int:
        """Recompute every record's normalisation cohort (``matcher reindex``)."""
        info = self.services.pack_info(pack)
        with self.services.sessions.begin() as session:
            return refresh_cohorts(session, self.services, info.name, info.embedding_dim, self.services.settings.norm_top_k, prior_cohort(*info.impostor_prior))

    # ---- queue ----
    def queue(self, status: str | None = CandidateStatus.OPEN, limit: int = 50, kind: str | None = None) -> list[dict]:
        """Candidates, strongest first (plausible before implausible, then false-match rate)."""
        with self.services.sessions() as session:
            query = select(Candidate)
            if status:
                query = query.where(Candidate.status == status)
            if kind:
                query = query.where(Candidate.kind == kind)
            rows = sorted(session.scalars(query), key=strength_key)[:limit]
            return [candidate_dict(session, c) for c in rows]

    def open_ids(self, limit: int = 500) -> list[int]:
        """Ids of the open queue in order (previous / next on a candidate page)."""
        return [r["id"] for r in self.queue(CandidateStatus.OPEN, limit)]

    def filtered_queue(self, status: str, kind: str | None, flag: str, shelter: str, max_gap: int | None, sort: str) -> list[dict]:
        """The reviewers' page queue: up to 500 candidates with the child's shelter, age flags and
        birth-year gap, filtered by flag (a FLAGS name, ``plausible`` or ``implausible``), shelter
        (substring), largest gap, and sorted by ``strength`` (queue order) or ``score``."""
        rows = self.queue(None if status == "all" else status, 500, kind or None)
        shelters: dict[str, str | None] = {}
        if rows:
            with self.services.sessions() as session:
                numbers = {r["child_id"] for r in rows}
                shelters = dict(session.execute(select(Record.external_id, Record.shelter).where(Record.side == Side.CHILD, Record.external_id.in_(numbers))).all())
        for r in rows:
            ev = r.get("evidence") or {}
            r["shelter"] = shelters.get(r["child_id"])
            r["flags"] = ev.get("flags") or []
            r["plausible"] = ev.get("plausible")
            r["gap"] = (ev.get("age") or {}).get("birth_year_gap")
        if flag == "plausible":
            rows = [r for r in rows if r["plausible"] is not False]
        elif flag == "implausible":
            rows = [r for r in rows if r["plausible"] is False]
        elif flag in FLAGS:
            rows = [r for r in rows if flag in r["flags"]]
        if shelter:
            rows = [r for r in rows if shelter.lower() in (r["shelter"] or "").lower()]
        if max_gap is not None:
            rows = [r for r in rows if r["gap"] is not None and abs(r["gap"]) <= max_gap]
        if sort == "score":
            rows.sort(key=lambda r: -r["score"])
        return rows

    # ---- one candidate ----
    def candidate(self, candidate_id: int, actor: str, role: str, request_id: str | None = None) -> dict:
        """One candidate with both records' details; the view is audited."""
        with self.services.sessions.begin() as session:
            c = session.get(Candidate, candidate_id)
            if c is None:
                raise CandidateNotFound(f"no candidate {candidate_id}")
            out = candidate_dict(session, c)
            out["records"] = {key: record_dict(session.get(Record, rid)) for key, rid in ((Side.REPORT.value, c.report_id), (Side.CHILD.value, c.child_id))}
            out["decisions"] = [
                {"verdict": d.verdict, "reviewer": d.reviewer, "note": d.note, "at": d.decided_at.isoformat()}
                for d in session.query(Decision).filter(Decision.candidate_id == c.id).order_by(Decision.id)
            ]
            repo.audit(session, actor, role, "candidate_view", "candidate", str(c.id), request_id)
            return out

    def evidence_pairs(self, case: dict, limit: int = 3) -> list[dict]:
        """The best face pairs of a candidate (from ``candidate``) with the photos they come
        from (``None`` for a video frame: videos are shown as crops only)."""
        pairs = []
        with self.services.sessions() as session:
            for p in ((case.get("evidence") or {}).get("pairs") or [])[:limit]:
                rf, cf = session.get(Face, p["report_face"]), session.get(Face, p["child_face"])
                if rf is not None and cf is not None:
                    pairs.append({
                        "score": p["score"], "report_face": rf.id, "child_face": cf.id,
                        "report_media": rf.media_id if rf.media.kind == MediaKind.PHOTO else None,
                        "child_media": cf.media_id if cf.media.kind == MediaKind.PHOTO else None,
                    })
        return pairs

    def others_of_report(self, candidate_id: int, limit: int = 50) -> list[dict]:
        """The other candidates of the same report, highest score first."""
        with self.services.sessions() as session:
            c = session.get(Candidate, candidate_id)
            if c is None:
                raise CandidateNotFound(f"no candidate {candidate_id}")
            query = select(Candidate).where(Candidate.report_id == c.report_id, Candidate.id != c.id).order_by(Candidate.score.desc()).limit(limit)
            return [candidate_dict(session, o) for o in session.scalars(query)]

    def decide(self, candidate_id: int, verdict: str, reviewer: str, note: str | None, role: str = Role.REVIEWER, request_id: str | None = None) -> dict:
        with self.services.sessions.begin() as session:
            c = decide(session, candidate_id, verdict, reviewer, note, self.services.settings.two_person_rule, role, request_id)
            return candidate_dict(session, c)
