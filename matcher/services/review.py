"""Review use cases: match records, the candidate queue (plain and filtered), one candidate
with both records (audited), decisions, and the dicts reviewers see of candidates.

Invariant 4 (docs/architecture.md): candidates, scores and evidence are for reviewers and admins only; callers
(CLI, API, pages) check the role, and every candidate view and decision is audited here
or in ``matcher.review.decisions``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.errors import CandidateNotFound, NotFoundError
from matcher.review.decisions import decide
from matcher.review.matching import strength_key
from matcher.review.normalization import CohortSizes, prior_cohort
from matcher.review.runs import match_pending, research_all
from matcher.review.upkeep import refresh_cohorts
from matcher.services import review_queue as rq
from matcher.services.review_queue import FLAGS  # noqa: F401  (the pages' filter list)
from matcher.store import repo
from matcher.store.tables import Candidate, Decision, Face, Record
from matcher.types import CandidateKind, CandidateStatus, MediaKind, Role, Side

RECORD_FIELDS = ("side", "external_id", "name", "sex", "birth_year", "shelter", "event_on", "event_at", "languages", "notes", "status")


def candidate_dict(session: Session, c: Candidate) -> dict:
    """A candidate as reviewers see it in lists: both record numbers, score, rate, status."""
    report, child = session.get(Record, c.report_id), session.get(Record, c.child_id)
    return {
        "id": c.id,
        "kind": c.kind,
        "report_id": report.external_id,
        "child_id": child.external_id,
        "score": round(c.score, 4),  # comparable across reports: the rate and the strong badge rest on it
        "rank_score": round(c.rank_score if c.rank_score is not None else c.score, 4),  # orders this report's list
        "fmr": c.fmr,
        "status": c.status,
        "evidence": c.evidence,
    }


def record_dict(record: Record) -> dict:
    """What a reviewer sees of a record (the family contact stays with staff)."""
    return {f: (str(getattr(record, f)) if f == "event_on" and getattr(record, f) else getattr(record, f)) for f in RECORD_FIELDS}


class ReviewService:
    """Takes the wiring whole: the matching engine it runs (``review.runs.match_pending``,
    ``review.upkeep.refresh_cohorts``) reads the settings, sessions, packs and indexes from it."""

    def __init__(self, services) -> None:
        self.services = services

    # ---- matching ----
    def match(self, record_ids: list[int], pack: str | None = None) -> int:
        """Match records that got new faces against the other side (and their own, for duplicates)."""
        return match_pending(self.services, record_ids, pack)

    def refresh_cohorts(self, pack: str | None = None) -> int:
        """Recompute every record's cohorts, then rebuild every open report's list from a new
        search under them (``matcher reindex``). Returns how many cohort lists were written."""
        info = self.services.pack_info(pack)
        with self.services.sessions.begin() as session:
            lists = refresh_cohorts(
                session, self.services, info.name, info.embedding_dim, CohortSizes.from_settings(self.services.settings), prior_cohort(*info.impostor_prior)
            )
        research_all(self.services, info.name)
        return lists

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
        with self.services.sessions() as session:
            return [r["id"] for r in rq.load_rows(session, None, CandidateStatus.OPEN)[:limit]]

    def filtered_queue(self, status: str, kind: str | None, flag: str, shelter: str, max_gap: int | None, sort: str) -> list[dict]:
        """The reviewers' flat page queue (``?view=all``): up to 500 rows (``review_queue.row_of``)
        filtered by flag (a FLAGS name, ``plausible`` or ``implausible``), shelter (substring)
        and largest birth-year gap, sorted by ``strength`` (queue order) or ``score``."""
        with self.services.sessions() as session:
            rows = rq.load_rows(session, kind or None, None if status == "all" else status)
        rows = [r for r in rows if rq.keep(r, flag, shelter, max_gap)][:500]
        if sort == "score":
            rows.sort(key=lambda r: -r["score"])
        return rows

    # ---- the queue by report: each open report with its shortlist ----
    def _ranking(self) -> tuple[int, bool, bool]:
        s = self.services.settings
        return s.shortlist, s.age_ranking, s.name_ranking

    def by_report(self, status: str = "open", flag: str = "", shelter: str = "", max_gap: int | None = None, page: int = 1, per_page: int = 50) -> dict:
        """Reports with their shortlists (``review_queue.group_by_report``): each report's
        candidates in ranking order, at most ``MATCHER_SHORTLIST``, reports with strong leads
        first; ``per_page`` reports a page. Duplicates are counted, not listed (flat view)."""
        n, use_age, use_name = self._ranking()
        with self.services.sessions() as session:
            rows = rq.load_rows(session, CandidateKind.MATCH, None if status == "all" else status)
            duplicates = session.scalar(
                select(func.count()).select_from(Candidate).where(Candidate.kind == CandidateKind.DUPLICATE, Candidate.status == CandidateStatus.OPEN)
            )
        groups = rq.group_by_report([r for r in rows if rq.keep(r, flag, shelter, max_gap)], n, use_age, use_name)
        pages = max(1, -(-len(groups) // per_page))
        page = min(max(page, 1), pages)
        return {
            "groups": groups[(page - 1) * per_page : page * per_page],
            "reports": len(groups),
            "candidates": sum(len(g["rows"]) for g in groups),
            "page": page,
            "pages": pages,
            "duplicates": duplicates or 0,
            "shortlist": n,
        }

    def report_shortlist(self, number: str, actor: str, role: str, request_id: str | None = None) -> dict:
        """One report's list for a reviewer working it (the view is audited): ``rows`` (its open
        shortlist in ranking order), ``decided`` (its other candidates, superseded ones aside),
        the report's details, and the previous / next report of the queue."""
        n, use_age, use_name = self._ranking()
        with self.services.sessions.begin() as session:
            report = repo.get_record(session, Side.REPORT, number)
            if report is None:
                raise NotFoundError(f"no report {number}")
            rows = rq.load_rows(session, CandidateKind.MATCH, None, [report.id])
            info = record_dict(report)
            repo.audit(session, actor, role, "shortlist_view", "report", str(report.id), request_id)
        work = rq.in_report_order([r for r in rows if r["status"] in rq.WORK], n, use_age, use_name)
        decided = rq.in_display_order([r for r in rows if r["status"] not in rq.WORK], use_age, use_name)
        order = [g["report"]["number"] for g in self.by_report(per_page=10**9)["groups"]]
        i = order.index(number) if number in order else None
        prev_report = order[i - 1] if i else None
        next_report = order[i + 1] if i is not None and i + 1 < len(order) else (order[0] if i is None and order else None)
        return {"report": info, "rows": work, "decided": decided, "shortlist": n, "prev_report": prev_report, "next_report": next_report}

    def report_open_ids(self, number: str) -> list[int]:
        """Ids of a report's open shortlist in ranking order (previous / next inside a report)."""
        n, use_age, use_name = self._ranking()
        with self.services.sessions() as session:
            report = repo.get_record(session, Side.REPORT, number)
            rows = rq.load_rows(session, CandidateKind.MATCH, CandidateStatus.OPEN, [report.id]) if report is not None else []
        return [r["id"] for r in rq.in_report_order(rows, n, use_age, use_name)]

    # ---- one candidate ----
    def candidate(self, candidate_id: int, actor: str, role: str, request_id: str | None = None) -> dict:
        """One candidate with both records' details; the view is audited."""
        with self.services.sessions.begin() as session:
            c = session.get(Candidate, candidate_id)
            if c is None:
                raise CandidateNotFound(f"no candidate {candidate_id}")
            out = candidate_dict(session, c)
            out["records"] = {key: record_dict(session.get(Record, rid)) for key, rid in ((Side.REPORT.value, c.report_id), (Side.CHILD.value, c.child_id))}
            out["raw_score"] = c.raw_score if c.raw_score is not None else (c.evidence or {}).get("raw_score")
            out["name_agreement"] = rq.name_line(out["records"]["report"]["name"], out["records"]["child"]["name"]).as_dict()
            out["decisions"] = [
                {"verdict": d.verdict, "reviewer": d.reviewer, "note": d.note, "at": d.decided_at.isoformat()}
                for d in session.query(Decision).filter(Decision.candidate_id == c.id).order_by(Decision.id)
            ]
            repo.audit(session, actor, role, "candidate_view", "candidate", str(c.id), request_id)
            return out

    def evidence_pairs(self, case: dict, limit: int = 3) -> list[dict]:
        """The best face pairs of a candidate (from ``candidate``) with the photos they come
        from (``None`` for a video frame: videos are shown as crops only) and the child's age
        in each photo where the family or staff gave it."""
        pairs = []
        with self.services.sessions() as session:
            for p in ((case.get("evidence") or {}).get("pairs") or [])[:limit]:
                rf, cf = session.get(Face, p["report_face"]), session.get(Face, p["child_face"])
                if rf is not None and cf is not None:
                    pairs.append(
                        {
                            "score": p["score"],
                            "report_face": rf.id,
                            "child_face": cf.id,
                            "report_media": rf.media_id if rf.media.kind == MediaKind.PHOTO else None,
                            "child_media": cf.media_id if cf.media.kind == MediaKind.PHOTO else None,
                            "report_age": rf.media.age_at_photo,
                            "child_age": cf.media.age_at_photo,  # as given with the upload
                        }
                    )
        return pairs

    def others_of_report(self, candidate_id: int, limit: int = 50) -> list[dict]:
        """The other candidates of the same report and kind (superseded ones aside), in the
        report's ranking order (plausible first, then name agreement, then rank score)."""
        _, use_age, use_name = self._ranking()
        with self.services.sessions() as session:
            c = session.get(Candidate, candidate_id)
            if c is None:
                raise CandidateNotFound(f"no candidate {candidate_id}")
            rows = [r for r in rq.load_rows(session, c.kind, None, [c.report_id]) if r["id"] != candidate_id]
        return rq.in_display_order(rows, use_age, use_name)[:limit]

    def decide(self, candidate_id: int, verdict: str, reviewer: str, note: str | None, role: str = Role.REVIEWER, request_id: str | None = None) -> dict:
        with self.services.sessions.begin() as session:
            c = decide(session, candidate_id, verdict, reviewer, note, self.services.settings.two_person_rule, role, request_id)
            out = candidate_dict(session, c)
            refill = c.report_id if c.kind == CandidateKind.MATCH and c.status == CandidateStatus.REJECTED else None
        if refill is not None:  # the report's list lost a place: the next-best child takes it
            self.match([refill])
        return out
