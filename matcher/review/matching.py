"""Continuous two-way matching, batch-shaped: records with new template faces -> candidates.

For a chunk of records (``Matcher.match``; the caller commits each chunk):

1. **Own side** (one FAISS search per side for all the chunk's faces): each record's cohort
   against its own side is recomputed, the records it meets get the new score merged into
   theirs (``review.cohorts``), and likely duplicates are gated on the *open-set* rate —
   the chance that any of the side's N records scores this high by chance, ≈ N × the
   per-pair false-match rate (``MATCHER_QUEUE_FPIR``) — with at most
   ``MATCHER_DUPLICATE_CAP`` new duplicate leads per record.
2. **Other side**: a report's K best children set its cohort against the children; every
   open report keeps a shortlist of its best ``MATCHER_SHORTLIST`` open children
   (``review.shortlist``), whatever their false-match rate. A new child that enters a
   report's list joins it; an undecided candidate pushed out leaves the queue (audited).

Scores: the raw record-pair score is the best face pair; with ``MATCHER_SCORE_NORM=snorm``
it is normalised (``review.normalization``) and the normalised score is what is ranked,
calibrated and stored, the raw cosine staying in the evidence. Templates, neighbours,
cohorts and existing candidates are loaded in bulk; candidates are written in bulk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from matcher.review import cohorts as coh
from matcher.review.age import check
from matcher.review.calibration import Calibration, in_words
from matcher.review.evidence import age_facts, name_level
from matcher.review.fusion import fuse
from matcher.review.normalization import Cohort, cohort_of, prior_cohort, snorm
from matcher.review.ranking import Ranked
from matcher.review.shortlist import Existing, plan
from matcher.review.upkeep import current_calibration
from matcher.review.templates import Template, count_records_with_faces, face_owners, load_records, load_templates, stack
from matcher.store import repo
from matcher.store.models import Candidate, Record
from matcher.types import Role, Side

log = logging.getLogger(__name__)
SYSTEM = Role.SYSTEM
CHILD, REPORT = Side.CHILD, Side.REPORT


@dataclass(frozen=True)
class Pair:
    """One comparison of a query record with another record."""

    other: int
    raw: float
    qi: int  # best face of the query's template
    gi: int  # best face of the other's template


class Matcher:
    def __init__(self, services, pack: str | None = None) -> None:
        self.services = services
        self.settings = s = services.settings
        info = services.pack_info(pack)
        self.pack, self.dim, self.hint = info.name, info.embedding_dim, info.same_person_threshold
        self.prior_pair = info.impostor_prior
        self.prior = prior_cohort(*info.impostor_prior)
        self.norm = s.score_norm == "snorm"
        self.k = s.norm_top_k
        self._templates: dict[int, Template] = {}

    # ---- the whole chunk --------------------------------------------------------------
    def match(self, session: Session, record_ids: list[int], calibration: Calibration) -> list[Candidate]:
        self._templates = {}
        loaded = load_records(session, record_ids)
        for r in loaded.values():
            r.needs_match = False
        records = {rid: r for rid, r in loaded.items() if r.status != "withdrawn"}
        self._templates.update(load_templates(session, records, self.pack, self.dim))
        touched: list[Candidate] = []
        for side in (CHILD, REPORT):
            mine = [r for r in records.values() if r.side == side and r.id in self._templates]
            touched += self._own_side(session, side, mine, calibration)
        reports = [r for r in records.values() if r.side == REPORT and r.status == "open" and r.id in self._templates]
        children = [r for r in records.values() if r.side == CHILD and r.status == "open" and r.id in self._templates]
        touched += self._reports_against_children(session, reports, calibration)
        touched += self._children_against_reports(session, children, {r.id for r in reports}, calibration)
        return touched

    # ---- comparisons ------------------------------------------------------------------
    def _compare(self, session: Session, queries: list[Record], side: str) -> dict[int, list[Pair]]:
        """Every query record against its neighbours on ``side``: one index search for all
        their faces, then exact best-pair scores against the neighbours' whole templates."""
        index = self.services.index(side, self.pack)
        if len(index) == 0 or not queries:
            return {}
        tq = [self._templates[r.id] for r in queries]
        vectors, starts = stack(tq, self.dim)
        hits = index.search(vectors, min(len(index), self.settings.match_neighbours))
        owners = face_owners(session, {fid for row in hits for fid, _ in row})
        pools: dict[int, set[int]] = {}
        for q, start in zip(queries, starts, strict=True):
            rows = hits[start : start + len(self._templates[q.id].face_ids)]
            pools[q.id] = {owners[f] for row in rows for f, _ in row if f in owners and owners[f] != q.id}
        need = set().union(*pools.values()) - self._templates.keys()
        self._templates.update(load_templates(session, need, self.pack, self.dim))
        out: dict[int, list[Pair]] = {}
        for q in queries:
            others = [self._templates[g] for g in sorted(pools[q.id]) if g in self._templates]
            out[q.id] = best_pairs(self._templates[q.id], others, self.dim)
        return out

    def _z(self, raw: float, a: Cohort, b: Cohort) -> float:
        return float(snorm(raw, a.mean, a.std, b.mean, b.std)) if self.norm else raw

    def _fmr(self, calibration: Calibration, raw: float, z: float) -> float:
        # a calibration measured on the gallery is on the score actually ranked; the pack's
        # prior (tiny galleries) describes raw cosines
        return calibration.fmr(z if (self.norm and calibration.normalised) else raw)

    # ---- 1. own side: cohorts and duplicates -----------------------------------------
    def _own_side(self, session: Session, side: str, mine: list[Record], calibration: Calibration) -> list[Candidate]:
        pairs = self._compare(session, mine, side)
        if not pairs:
            return []
        ids = set(pairs) | {p.other for ps in pairs.values() for p in ps}
        rows = coh.load(session, ids, self.pack, side)
        for q, ps in pairs.items():
            coh.put(session, rows, q, self.pack, side, coh.merge_top([], {p.other: p.raw for p in ps}, self.k), self.k, self.prior)
        fresh: dict[int, dict[int, float]] = {}
        for q, ps in pairs.items():
            for p in ps:
                if p.other not in pairs:
                    fresh.setdefault(p.other, {})[q] = p.raw
        coh.update_neighbours(session, rows, fresh, self.pack, side, self.k, self.prior)
        n_side = max(len(rows), count_records_with_faces(session, side, self.pack))
        found: dict[tuple[int, int], tuple[float, float, float, float, Pair, int]] = {}
        for q, ps in pairs.items():
            scored = []
            for p in ps:
                z = self._z(p.raw, coh.as_cohort(rows.get(q), self.prior), coh.as_cohort(rows.get(p.other), self.prior))
                fmr = self._fmr(calibration, p.raw, z)
                fpir = min(1.0, n_side * fmr)
                if fpir <= self.settings.queue_fpir:
                    scored.append((z, p.raw, fmr, fpir, p))
            for z, raw, fmr, fpir, p in sorted(scored, key=lambda t: -t[0])[: self.settings.duplicate_cap]:
                key = (min(q, p.other), max(q, p.other))
                if key not in found or z > found[key][0]:
                    found[key] = (z, raw, fmr, fpir, p, q)
        existing = self._existing(session, "duplicate", {a for a, _ in found})
        touched = []
        for (a, b), (z, raw, fmr, fpir, p, q) in sorted(found.items()):
            qi, gi = (p.qi, p.gi) if q == a else (p.gi, p.qi)
            ev = self._evidence("duplicate", a, b, qi, gi, raw, z, fmr, fpir, rows.get(a), rows.get(b))
            cand = self._upsert(session, existing.get((a, b)), "duplicate", a, b, z, raw, fmr, ev)
            if cand is not None:
                touched.append(cand)
        return touched

    # ---- 2. reports against children --------------------------------------------------
    def _reports_against_children(self, session: Session, reports: list[Record], calibration: Calibration) -> list[Candidate]:
        pairs = self._compare(session, reports, CHILD)
        if not pairs:
            return []
        children = load_records(session, {p.other for ps in pairs.values() for p in ps})
        cross = coh.load(session, pairs, self.pack, CHILD)
        own = coh.load(session, children, self.pack, CHILD)
        for r, ps in pairs.items():
            coh.put(session, cross, r, self.pack, CHILD, coh.merge_top([], {p.other: p.raw for p in ps}, self.k), self.k, self.prior)
        existing = self._existing(session, "match", set(pairs))
        records = {r.id: r for r in reports}
        touched = []
        for r, ps in pairs.items():
            fresh = {p.other: p for p in ps if children[p.other].status == "open"}
            touched += self._sync_shortlist(session, records[r], children, fresh, cross, own, existing, calibration)
        return touched

    # ---- 3. children against reports --------------------------------------------------
    def _children_against_reports(self, session: Session, kids: list[Record], done: set[int], calibration: Calibration) -> list[Candidate]:
        pairs = self._compare(session, kids, REPORT)
        if not pairs:
            return []
        reports = {rid: r for rid, r in load_records(session, {p.other for ps in pairs.values() for p in ps}).items() if rid not in done}
        cross = coh.load(session, reports, self.pack, CHILD)
        fresh_scores: dict[int, dict[int, float]] = {}
        by_report: dict[int, dict[int, Pair]] = {}
        for c, ps in pairs.items():
            for p in ps:
                if p.other in reports:
                    fresh_scores.setdefault(p.other, {})[c] = p.raw
                    if reports[p.other].status == "open":
                        # seen from the report: its face first
                        by_report.setdefault(p.other, {})[c] = Pair(c, p.raw, p.gi, p.qi)
        coh.update_neighbours(session, cross, fresh_scores, self.pack, CHILD, self.k, self.prior)
        children = {k.id: k for k in kids}
        existing = self._existing(session, "match", set(by_report))
        children.update(load_records(session, {c for (_, c) in existing} - children.keys()))
        own = coh.load(session, children, self.pack, CHILD)
        touched = []
        for r, fresh in sorted(by_report.items()):
            touched += self._sync_shortlist(session, reports[r], children, fresh, cross, own, existing, calibration)
        return touched

    # ---- shortlist bookkeeping --------------------------------------------------------
    def _sync_shortlist(self, session, report: Record, children: dict[int, Record], fresh: dict[int, Pair], cross, own, existing, calibration) -> list[Candidate]:
        s = self.settings
        mine = {c: cand for (r, c), cand in existing.items() if r == report.id}
        scored: dict[int, tuple] = {}
        pool: list[Ranked] = []
        for c, p in fresh.items():
            z = self._z(p.raw, coh.as_cohort(cross.get(report.id), self.prior), coh.as_cohort(own.get(c), self.prior))
            tr, tc = self._templates[report.id], self._templates[c]
            age = check(age_facts(report, children[c], tr.dates[p.qi], tc.dates[p.gi], tr.ages[p.qi], tc.ages[p.gi]))
            name = name_level(report.name, children[c].name) if s.name_ranking else None
            scored[c] = (z, p, age, name)
            pool.append(Ranked(c, z, age.plausible, name))
        for c, cand in mine.items():
            if c not in scored and cand.status in ("open", "superseded"):
                ev = cand.evidence or {}
                pool.append(Ranked(c, cand.score, ev.get("plausible"), (ev.get("name") or {}).get("level")))
        states = {c: Existing(c, cand.status, (cand.evidence or {}).get("raw_score", cand.score)) for c, cand in mine.items()}
        todo = plan(pool, states, {c: v[1].raw for c, v in scored.items()}, s.shortlist, s.age_ranking)
        touched = []
        n_side = count_records_with_faces(session, CHILD, self.pack)
        for c in todo.add + todo.keep + todo.reopen:
            if c not in scored:
                continue  # stored candidate still on the list, nothing new to say
            z, p, age, name = scored[c]
            fmr = self._fmr(calibration, p.raw, z)
            ev = self._evidence("match", report.id, c, p.qi, p.gi, p.raw, z, fmr, min(1.0, n_side * fmr), cross.get(report.id), own.get(c), age, name, report, children[c])
            cand = self._upsert(session, mine.get(c), "match", report.id, c, z, p.raw, fmr, ev, force=True)
            if cand is not None:
                touched.append(cand)
        for c in todo.drop:
            cand = mine[c]
            cand.status = "superseded"
            repo.audit(session, SYSTEM, SYSTEM, "candidate_superseded", "candidate", str(cand.id), reason=f"left the report's top {s.shortlist}")
            touched.append(cand)
        return touched

    def _existing(self, session: Session, kind: str, first_ids: set[int]) -> dict[tuple[int, int], Candidate]:
        out: dict[tuple[int, int], Candidate] = {}
        ids = sorted(first_ids)
        for start in range(0, len(ids), 900):
            rows = session.scalars(select(Candidate).where(Candidate.kind == kind, Candidate.report_id.in_(ids[start : start + 900])))
            out.update({(c.report_id, c.child_id): c for c in rows})
        return out

    def _upsert(self, session, existing: Candidate | None, kind, a, b, z, raw, fmr, evidence, force: bool = False) -> Candidate | None:
        """Create or update one candidate; ``force``: the shortlist already chose it."""
        if existing is None:
            cand = Candidate(kind=kind, report_id=a, child_id=b, pack=self.pack, score=z, fmr=fmr, status="open", evidence=evidence)
            session.add(cand)
            session.flush()
            repo.audit(session, SYSTEM, SYSTEM, "candidate_created", "candidate", str(cand.id), score=round(z, 4), fmr=fmr)
            return cand
        if existing.status == "confirmed":
            return None
        if existing.status in ("rejected", "superseded"):
            if existing.status == "rejected":
                last = (existing.evidence or {}).get("raw_score", existing.score)
                if raw <= last + 1e-6:
                    return None  # same (or weaker) evidence: stays rejected
            action = "candidate_requeued"
            existing.status = "open"
            repo.audit(session, SYSTEM, SYSTEM, action, "candidate", str(existing.id), score=round(z, 4))
        elif abs(existing.score - z) > 1e-6:
            repo.audit(session, SYSTEM, SYSTEM, "candidate_rescored", "candidate", str(existing.id), old=round(existing.score, 4), new=round(z, 4))
        existing.score, existing.fmr, existing.evidence = z, fmr, evidence
        return existing

    def _evidence(self, kind, a, b, ai, bi, raw, z, fmr, fpir, ca, cb, age=None, name=None, ra=None, rb=None) -> dict:
        ta, tb = self._templates[a], self._templates[b]
        sims = ta.vectors @ tb.vectors.T
        fused = fuse(sims, "best")
        ev = {
            "fusion": "best",
            "score_norm": "snorm" if self.norm else "none",
            "raw_score": float(raw),  # full precision: the new-evidence test compares it
            "pairs": [{"report_face": int(ta.face_ids[p]), "child_face": int(tb.face_ids[q]), "score": round(s, 4)} for p, q, s in fused.pairs[:5]],
            "face_pairs_compared": int(sims.size),
            "fmr_in_words": in_words(fmr),
            "fpir": fpir,
            "strong": fpir <= self.settings.queue_fpir,
            "cohorts": {"report": _cohort_dict(ca), "child": _cohort_dict(cb)},
        }
        if age is None:
            age = check(age_facts(ra, rb, ta.dates[ai], tb.dates[bi], ta.ages[ai], tb.ages[bi])) if ra is not None else None
        if age is not None:
            ev.update({"age": age.as_dict(), "plausible": age.plausible, "flags": list(age.flags)})
        if name is not None:
            ev["name"] = {"level": name}
        return ev


def match_pending(services, record_ids: list[int], pack: str | None = None) -> int:
    """Mark ``record_ids`` as needing a match, then match every pending record in committed
    chunks of ``MATCHER_MATCH_CHUNK``, in id order. A run killed part-way loses at most the
    chunk in flight; the next run (any run) finishes the rest and ends with the same
    candidates as an uninterrupted one. Returns how many candidates were touched."""
    matcher = Matcher(services, pack)
    sessions, chunk = services.sessions, services.settings.match_chunk
    with sessions.begin() as session:
        for start in range(0, len(record_ids), 900):
            session.execute(update(Record).where(Record.id.in_(record_ids[start : start + 900])).values(needs_match=True))
    touched, last = 0, 0
    while True:
        with sessions.begin() as session:
            ids = list(session.scalars(select(Record.id).where(Record.needs_match.is_(True), Record.id > last).order_by(Record.id).limit(chunk)))
            if not ids:
                return touched
            calibration = current_calibration(session, services, matcher.pack, matcher.dim, matcher.prior_pair, matcher.norm, matcher.k)
            touched += len(matcher.match(session, ids, calibration))
            last = ids[-1]


def strength_key(candidate: Candidate) -> tuple:
    """Queue order: plausible before implausible, then lower false-match rate, then score."""
    implausible = (candidate.evidence or {}).get("plausible") is False
    return (implausible, candidate.fmr if candidate.fmr is not None else 1.0, -candidate.score, candidate.id)


def _cohort_dict(row) -> dict | None:
    return None if row is None else {"mean": round(row.mean, 4), "std": round(row.std, 4), "n": row.n}


def best_pairs(query: Template, others: list[Template], dim: int) -> list[Pair]:
    """Best face pair of ``query`` against each of ``others`` (vectorised)."""
    if not others:
        return []
    g, starts = stack(others, dim)
    sims = query.vectors @ g.T  # (query faces) x (all their faces)
    col_best = sims.max(axis=0)
    col_arg = sims.argmax(axis=0)
    sizes = np.array([len(t.face_ids) for t in others])
    group = np.repeat(np.arange(len(others)), sizes)
    order = np.lexsort((-col_best, group))
    first = order[starts]
    return [
        Pair(t.record_id, float(col_best[f]), int(col_arg[f]), int(f - s))
        for t, f, s in zip(others, first, starts, strict=True)
    ]


def cohort_from_pairs(pairs: list[Pair], k: int, prior: Cohort) -> Cohort:
    return cohort_of(np.array([p.raw for p in pairs]), k, prior)
