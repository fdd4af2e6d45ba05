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
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from matcher.review import cohorts as coh
from matcher.review.age import check
from matcher.review.calibration import Calibration, in_words
from matcher.review.cohorts import same_keys
from matcher.review.evidence import age_facts, name_evidence
from matcher.review.fusion import fuse
from matcher.review.normalization import Cohort, CohortSizes, prior_cohort, rank_score
from matcher.review.ranking import Ranked, effective, queue_key
from matcher.review.shortlist import UNDECIDED, Existing, plan
from matcher.review.templates import Template, count_records_with_faces, face_owners, load_records, load_templates, stack
from matcher.store import repo
from matcher.store.tables import Candidate, Record
from matcher.types import CandidateKind, Role, Side

log = logging.getLogger(__name__)
SYSTEM = Role.SYSTEM
EPS = 1e-6
CHILD, REPORT = Side.CHILD, Side.REPORT


@dataclass(frozen=True)
class Pair:
    """One comparison of a query record with another record."""

    other: int
    raw: float
    qi: int  # best face of the query's template
    gi: int  # best face of the other's template


@dataclass(frozen=True)
class Known:
    """An existing candidate as matching needs it: read without its evidence."""

    id: int
    first: int
    second: int
    status: str
    score: float
    raw: float | None
    plausible: bool | None
    name: str | None
    rank: float | None = None


@dataclass
class _Write:
    """One candidate to create or change; applied in bulk at the end of a chunk."""

    kind: str
    first: int
    second: int
    z: float
    raw: float
    fmr: float | None
    evidence: dict | None  # None: re-listed, back in the list with the facts it had
    known: Known | None = None
    reopen: bool = False
    rank: float | None = None  # None: the cross-report score (duplicates)


class Matcher:
    def __init__(self, services, pack: str | None = None) -> None:
        self.services = services
        self.settings = s = services.settings
        info = services.pack_info(pack)
        self.pack, self.dim, self.hint = info.name, info.embedding_dim, info.same_person_threshold
        self.prior_pair = info.impostor_prior
        self.prior = prior_cohort(*info.impostor_prior)
        self.norm = s.score_norm == "snorm"
        self.sizes = CohortSizes.from_settings(s)
        self.rank_method = str(s.rank_score)
        self._templates: dict[int, Template] = {}
        self.changed: set[int] = set()  # records whose cohorts moved in this run (``relist``)
        self.refreshed = False  # every cohort was recomputed during this run

    # ---- the whole chunk --------------------------------------------------------------
    def _begin(self, session: Session) -> None:
        self._templates, self._writes, self._drops, self._ranks = {}, [], [], []
        self._n = {side: count_records_with_faces(session, side, self.pack) for side in (CHILD, REPORT)}
        self._cohorts = {side: coh.CohortTable(session, self.pack, side, self.sizes, self.prior) for side in (CHILD, REPORT)}

    def match(self, session: Session, record_ids: list[int], calibration: Calibration) -> int:
        """Match one chunk of records; returns how many candidates were created or changed."""
        self._begin(session)
        loaded = load_records(session, record_ids)
        for r in loaded.values():
            r.needs_match = False
        records = {rid: r for rid, r in loaded.items() if r.status != "withdrawn"}
        self._templates.update(load_templates(session, records, self.pack, self.dim))
        for side in (CHILD, REPORT):
            mine = [r for r in records.values() if r.side == side and r.id in self._templates]
            self._own_side(session, side, mine, calibration)
        reports = [r for r in records.values() if r.side == REPORT and r.status == "open" and r.id in self._templates]
        children = [r for r in records.values() if r.side == CHILD and r.status == "open" and r.id in self._templates]
        self._reports_against_children(session, reports, calibration)
        self._children_against_reports(session, children, {r.id for r in reports}, calibration)
        return self._finish(session)

    def research(self, session: Session, report_ids: list[int], calibration: Calibration) -> int:
        """Search the children again for these open reports and rebuild their lists (a list
        that may miss a child, ``relist``; every list after ``matcher reindex``)."""
        self._begin(session)
        reports = [r for r in load_records(session, report_ids).values() if r.side == REPORT and r.status == "open"]
        self._templates.update(load_templates(session, [r.id for r in reports], self.pack, self.dim))
        self._reports_against_children(session, [r for r in reports if r.id in self._templates], calibration)
        return self._finish(session)

    def relist(self, session: Session, report_ids: set[int]) -> tuple[int, list[int]]:
        """Re-rank the stored lists of these reports under the current cohorts, from the raw
        scores kept with their candidates: no search. A child that now ranks inside a list
        comes back, an undecided one that ranks outside leaves it (both audited).

        Returns (candidates changed, reports to ``research``): a list whose last member now
        ranks below the list's floor (a child its searches met but did not keep) may be
        missing that child."""
        self._begin(session)
        s, table = self.settings, self._cohorts[CHILD]
        open_reports = {r.id for r in load_records(session, report_ids).values() if r.side == REPORT and r.status == "open"}
        existing = self._existing(session, CandidateKind.MATCH, open_reports)
        table.ensure(open_reports | {c for mine in existing.values() for c in mine})
        again = []
        for rid in sorted(open_reports):
            mine = existing.get(rid, {})
            ranks = self._current_ranks(mine, table.cohort(rid), every=True)
            pool = []
            for c, k in mine.items():
                if k.rank is None or abs(k.rank - ranks[c]) > EPS:
                    self._ranks.append((k.id, ranks[c]))
                if k.status in ("open", "superseded"):
                    pool.append(Ranked(c, ranks[c], k.plausible, k.name))
            states = {c: Existing(c, k.status, k.raw if k.raw is not None else k.score) for c, k in mine.items()}
            todo = plan(pool, states, {}, s.shortlist, s.age_ranking)
            for c in todo.reopen:
                known = mine[c]
                self._writes.append(_Write(CandidateKind.MATCH, rid, c, known.score, known.raw, None, None, known, reopen=True))
            self._drops += [mine[c] for c in todo.drop]
            floor = table.floor(rid)
            if floor is not None:
                members = set(todo.add + todo.keep + todo.reopen)
                chosen = [r for r in pool if r.record_id in members]
                held = sum(1 for k in mine.values() if k.status in ("confirmed", "unsure", "awaiting_second"))
                lowest = min((effective(r, s.age_ranking) for r in chosen), default=float("-inf"))
                if len(chosen) < s.shortlist - held or lowest < floor - EPS:
                    again.append(rid)
        return self._finish(session), again

    def _finish(self, session: Session) -> int:
        for table in self._cohorts.values():
            table.flush()
        self.changed |= self._cohorts[CHILD].moved  # what orders the lists: cohorts against the children
        return self._apply(session)

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
        # review.normalization.snorm, in plain floats (called per pair)
        return 0.5 * (raw - a.mean) / a.std + 0.5 * (raw - b.mean) / b.std if self.norm else raw

    def _rank(self, raw: float, report: Cohort, child: int) -> float:
        """The score that orders this report's list (``MATCHER_RANK_SCORE``)."""
        table = self._cohorts[CHILD]
        c, r = table.cohort(child), table.rank_cohort(child)
        return float(rank_score(self.rank_method, raw, report.mean, report.std, c.mean, c.std, r.mean, r.std))

    def _fmr(self, calibration: Calibration, raw: float, z: float) -> float:
        # a calibration measured on the gallery is on the score actually ranked; the pack's
        # prior (tiny galleries) describes raw cosines
        return calibration.fmr(z if (self.norm and calibration.normalised) else raw)

    # ---- 1. own side: cohorts and duplicates -----------------------------------------
    def _own_side(self, session: Session, side: str, mine: list[Record], calibration: Calibration) -> None:
        pairs = self._compare(session, mine, side)
        if not pairs:
            return
        table = self._cohorts[side]
        table.ensure(set(pairs) | {p.other for ps in pairs.values() for p in ps})
        for q, ps in pairs.items():
            table.set(q, {p.other: p.raw for p in ps})
        fresh: dict[int, dict[int, float]] = {}
        for q, ps in pairs.items():
            for p in ps:
                if p.other not in pairs:
                    fresh.setdefault(p.other, {})[q] = p.raw
        table.offer(fresh)
        found: dict[tuple[int, int], tuple] = {}
        for q, ps in pairs.items():
            scored = []
            for p in ps:
                z = self._z(p.raw, table.cohort(q), table.cohort(p.other))
                fmr = self._fmr(calibration, p.raw, z)
                fpir = min(1.0, self._n[side] * fmr)
                if fpir <= self.settings.queue_fpir:
                    scored.append((z, p.raw, fmr, fpir, p))
            for z, raw, fmr, fpir, p in sorted(scored, key=lambda t: -t[0])[: self.settings.duplicate_cap]:
                key = (min(q, p.other), max(q, p.other))
                if key not in found or z > found[key][0]:
                    found[key] = (z, raw, fmr, fpir, p, q)
        existing = self._existing(session, CandidateKind.DUPLICATE, {a for a, _ in found})
        recs = load_records(session, {x for pair in found for x in pair})
        for (a, b), (z, raw, fmr, fpir, p, q) in sorted(found.items()):
            qi, gi = (p.qi, p.gi) if q == a else (p.gi, p.qi)
            known = existing.get(a, {}).get(b)
            if known is not None and known.status == "rejected" and (known.raw is None or raw <= known.raw + EPS):
                continue  # same (or weaker) evidence: stays rejected
            if known is not None and known.status in ("confirmed", "unsure", "awaiting_second") and abs(known.score - z) <= EPS:
                continue
            ta, tb = self._templates[a], self._templates[b]
            age = check(age_facts(recs[a], recs[b], ta.dates[qi], tb.dates[gi], ta.ages[qi], tb.ages[gi], ta.dated[qi], tb.dated[gi]))
            ev = self._evidence(a, b, qi, gi, raw, z, fmr, fpir, table.cohort(a), table.cohort(b), age)
            self._writes.append(
                _Write(CandidateKind.DUPLICATE, a, b, z, raw, fmr, ev, known, reopen=known is not None and known.status in ("rejected", "superseded"))
            )

    # ---- 2. reports against children --------------------------------------------------
    def _reports_against_children(self, session: Session, reports: list[Record], calibration: Calibration) -> None:
        pairs = self._compare(session, reports, CHILD)
        if not pairs:
            return
        children = load_records(session, {p.other for ps in pairs.values() for p in ps})
        own = self._cohorts[CHILD]  # reports' lists against the children live in the same table
        own.ensure(set(children) | set(pairs))
        for r, ps in pairs.items():
            own.set(r, {p.other: p.raw for p in ps}, self.sizes.k)  # a report's list: the S-norm's K only
        existing = self._existing(session, CandidateKind.MATCH, set(pairs))
        own.ensure({c for mine in existing.values() for c in mine})
        records = {r.id: r for r in reports}
        for r, ps in pairs.items():
            fresh = {p.other: p for p in ps if children[p.other].status == "open"}
            self._sync_shortlist(records[r], children, fresh, existing.get(r, {}), calibration, full=True)

    # ---- 3. children against reports --------------------------------------------------
    def _children_against_reports(self, session: Session, kids: list[Record], done: set[int], calibration: Calibration) -> None:
        pairs = self._compare(session, kids, REPORT)
        if not pairs:
            return
        reports = {rid: r for rid, r in load_records(session, {p.other for ps in pairs.values() for p in ps}).items() if rid not in done}
        table = self._cohorts[CHILD]
        fresh_scores: dict[int, dict[int, float]] = {}
        by_report: dict[int, dict[int, Pair]] = {}
        for c, ps in pairs.items():
            for p in ps:
                if p.other in reports:
                    fresh_scores.setdefault(p.other, {})[c] = p.raw
                    if reports[p.other].status == "open":
                        by_report.setdefault(p.other, {})[c] = Pair(c, p.raw, p.gi, p.qi)  # seen from the report
        table.ensure(set(reports) | set(pairs))
        table.offer(fresh_scores, self.sizes.k)  # reports' lists: the S-norm's K only
        children = {k.id: k for k in kids}
        existing = self._existing(session, CandidateKind.MATCH, set(by_report))
        table.ensure({c for mine in existing.values() for c in mine})
        for r, fresh in sorted(by_report.items()):
            self._sync_shortlist(reports[r], children, fresh, existing.get(r, {}), calibration, full=False)

    # ---- shortlist bookkeeping --------------------------------------------------------
    def _sync_shortlist(
        self, report: Record, children: dict[int, Record], fresh: dict[int, Pair], mine: dict[int, Known], calibration: Calibration, full: bool
    ) -> None:
        """Bring one report's list up to date with the children just compared with it
        (``fresh``). ``full``: ``fresh`` is everything the report's own search met, so the
        list floor is measured again; otherwise new children only raise it."""
        s, table = self.settings, self._cohorts[CHILD]
        scored: dict[int, tuple] = {}
        pool: list[Ranked] = []
        mine_cohort = table.cohort(report.id)
        stored = self._current_ranks(mine, mine_cohort)
        bar = _entry_bar(mine, stored, s.shortlist)
        floor = None if full else table.floor(report.id)
        for c, p in fresh.items():
            rank = self._rank(p.raw, mine_cohort, c)
            if rank < bar and c not in mine:
                floor = _higher(floor, rank)  # cannot enter a full list of plausible candidates that all rank higher
                continue
            tr, tc = self._templates[report.id], self._templates[c]
            age = check(age_facts(report, children[c], tr.dates[p.qi], tc.dates[p.gi], tr.ages[p.qi], tc.ages[p.gi], tr.dated[p.qi], tc.dated[p.gi]))
            name = name_evidence(report.name, children[c].name) if s.name_ranking else None
            z = self._z(p.raw, mine_cohort, table.cohort(c))
            scored[c] = (z, p, age, name, rank)
            pool.append(Ranked(c, rank, age.plausible, name["level"] if name else None))
        pool += [Ranked(c, stored[c], k.plausible, k.name) for c, k in mine.items() if c not in scored and k.status in ("open", "superseded")]
        if full:  # the report's own search: its stored list is made current too (else ``relist`` does it after the run)
            self._ranks += [(k.id, stored[c]) for c, k in mine.items() if c not in scored and c in stored and (k.rank is None or abs(k.rank - stored[c]) > EPS)]
        states = {c: Existing(c, k.status, k.raw if k.raw is not None else k.score) for c, k in mine.items()}
        todo = plan(pool, states, {c: v[1].raw for c, v in scored.items()}, s.shortlist, s.age_ranking)
        kept = set(todo.add + todo.keep + todo.reopen)
        for r in pool:
            if r.record_id in scored and r.record_id not in kept and r.record_id not in mine:
                floor = _higher(floor, effective(r, s.age_ranking))  # met, not kept, not stored
        table.set_floor(report.id, floor)
        for c in todo.add + todo.keep + todo.reopen:
            if c not in scored:  # a stored candidate on the list: nothing new to say about it
                if c in todo.reopen:  # ranks inside again: back with the facts it had
                    self._writes.append(_Write(CandidateKind.MATCH, report.id, c, mine[c].score, mine[c].raw, None, None, mine[c], reopen=True))
                continue
            z, p, age, name, rank = scored[c]
            known = mine.get(c)
            if known is not None and c in todo.keep and abs(known.score - z) <= EPS and known.raw is not None and abs(known.raw - p.raw) <= EPS:
                if full and (known.rank is None or abs(known.rank - rank) > EPS):
                    self._ranks.append((known.id, rank))
                continue  # unchanged (a rank score that moved with the cohorts is written by ``relist`` after the run)
            fmr = self._fmr(calibration, p.raw, z)
            ev = self._evidence(report.id, c, p.qi, p.gi, p.raw, z, fmr, min(1.0, self._n[CHILD] * fmr), mine_cohort, table.cohort(c), age, name, rank)
            self._writes.append(_Write(CandidateKind.MATCH, report.id, c, z, p.raw, fmr, ev, known, reopen=c in todo.reopen, rank=rank))
        self._drops += [mine[c] for c in todo.drop]

    def _current_ranks(self, mine: dict[int, Known], report: Cohort, every: bool = False) -> dict[int, float]:
        """The rank score of a report's stored candidates that may be on its list (open and
        superseded; ``every``: all of them) under the current cohorts, from the raw score kept
        with each (the cohort table must hold their children)."""
        return {c: self._rank(k.raw if k.raw is not None else k.score, report, c) for c, k in mine.items() if every or k.status in UNDECIDED}

    def _existing(self, session: Session, kind: str, first_ids: set[int]) -> dict[int, dict[int, Known]]:
        """Candidates of this kind whose first record is one of ``first_ids``: {first: {second: Known}}."""
        out: dict[int, dict[int, Known]] = {}
        ids = sorted(first_ids)
        cols = (
            Candidate.id,
            Candidate.report_id,
            Candidate.child_id,
            Candidate.status,
            Candidate.score,
            Candidate.raw_score,
            Candidate.plausible,
            Candidate.name_level,
            Candidate.rank_score,
        )
        for start in range(0, len(ids), 900):
            for row in session.execute(select(*cols).where(Candidate.kind == kind, Candidate.report_id.in_(ids[start : start + 900]))):
                out.setdefault(row[1], {})[row[2]] = Known(*row)
        return out

    # ---- writing ----------------------------------------------------------------------
    def _apply(self, session: Session) -> int:
        """Create, change and drop candidates in bulk (inserts and updates by primary key, no
        ORM objects); every change is audited."""
        created: list[dict] = []
        changed: list[dict] = []
        for w in self._writes:
            if w.evidence is None:  # re-listed: back in the list with the facts it had
                changed.append({"id": w.known.id, "status": "open"})
                repo.audit(
                    session,
                    SYSTEM,
                    SYSTEM,
                    "candidate_requeued",
                    "candidate",
                    str(w.known.id),
                    score=round(w.known.score, 4),
                    reason="ranks inside the report's list again",
                )
                continue
            facts = {
                "score": w.z,
                "rank_score": w.z if w.rank is None else w.rank,
                "fmr": w.fmr,
                "evidence": w.evidence,
                "raw_score": w.raw,
                "plausible": w.evidence.get("plausible"),
                "name_level": (w.evidence.get("name") or {}).get("level"),
            }
            if w.known is None:
                created.append({"kind": w.kind, "report_id": w.first, "child_id": w.second, "pack": self.pack, "status": "open", **facts})
                continue
            if w.reopen:
                facts["status"] = "open"
                repo.audit(session, SYSTEM, SYSTEM, "candidate_requeued", "candidate", str(w.known.id), score=round(w.z, 4))
            elif abs(w.known.score - w.z) > EPS:
                repo.audit(session, SYSTEM, SYSTEM, "candidate_rescored", "candidate", str(w.known.id), old=round(w.known.score, 4), new=round(w.z, 4))
            changed.append({"id": w.known.id, **facts})
        changed += [{"id": cid, "rank_score": rank} for cid, rank in self._ranks]  # the order moved, nothing else: not audited
        changed += [{"id": k.id, "status": "superseded"} for k in self._drops]
        for k in self._drops:
            repo.audit(session, SYSTEM, SYSTEM, "candidate_superseded", "candidate", str(k.id), reason=f"left the report's top {self.settings.shortlist}")
        for group in same_keys(changed):
            session.execute(update(Candidate), group)
        if created:
            ids = session.scalars(insert(Candidate).returning(Candidate.id, sort_by_parameter_order=True), created).all()
            for row, cid in zip(created, ids, strict=True):
                repo.audit(session, SYSTEM, SYSTEM, "candidate_created", "candidate", str(cid), score=round(row["score"], 4), fmr=row["fmr"])
        return len(self._writes) + len(self._drops) + len(self._ranks)

    def _evidence(self, a, b, ai, bi, raw, z, fmr, fpir, ca: Cohort, cb: Cohort, age=None, name=None, rank=None) -> dict:
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
            "cohorts": {"first": ca.as_dict(), "second": cb.as_dict()},
        }
        if rank is not None:  # a match: what orders the report's list, and how
            ev["rank_score"] = {"method": self.rank_method, "value": round(rank, 6), "child_cohort": self._cohorts[CHILD].rank_cohort(b).as_dict()}
        if age is not None:
            ev.update({"age": age.as_dict(), "plausible": age.plausible, "flags": list(age.flags)})
        if name is not None:
            ev["name"] = name
        return ev


def _entry_bar(mine: dict[int, Known], ranks: dict[int, float], n: int) -> float:
    """The rank score a new candidate must reach to enter a report's list: the lowest of a
    full list whose undecided members are all plausible (or not judged); -inf otherwise."""
    held = sum(1 for k in mine.values() if k.status in ("confirmed", "unsure", "awaiting_second"))
    members = [c for c, k in mine.items() if k.status == "open"]
    if len(members) < n - held or any(mine[c].plausible is False for c in members) or not members:
        return float("-inf")
    return min(ranks[c] for c in members)


def _higher(floor: float | None, value: float) -> float:
    return value if floor is None or value > floor else floor


def strength_key(candidate: Candidate) -> tuple:
    """Queue order of a stored candidate (``review.ranking.queue_key``)."""
    ev = candidate.evidence or {}
    plausible = candidate.plausible if candidate.plausible is not None else ev.get("plausible")
    return queue_key(plausible, candidate.name_level or (ev.get("name") or {}).get("level"), candidate.fmr, candidate.score, candidate.kind, candidate.id)


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
    return [Pair(t.record_id, float(col_best[f]), int(col_arg[f]), int(f - s)) for t, f, s in zip(others, first, starts, strict=True)]
