"""FROZEN COPY of the pre-rewrite matcher -- kept ONLY as the baseline of
``scripts/bench_index.py``'s match section (issue 12). Not part of the service; never import
it from ``matcher/``; do not fix or improve it (that would change the baseline).

Source: ``git show 97897e0:matcher/review/matching.py`` (per record, per neighbour: one ORM
query for the other record's template, one candidate lookup, one calibration call).
Adaptations, the minimum for it to run against today's package:

* ``CHILD`` / ``REPORT`` are no longer exported by ``matcher.store.tables``: the plain strings.
* ``settings.queue_fmr`` / ``settings.fusion`` are read with ``getattr`` and the old defaults
  (0.01 / "best") so the copy keeps working once those settings are gone.

Everything below the line is the old module's text otherwise unchanged.
"""
# ------------------------------------------------------------------------------------------
# Original module docstring:
# Continuous two-way matching: a record's template faces -> candidates for human review.
#
# A report is searched against children (and a child against reports); both are also
# searched against their own side for likely duplicates (``kind="duplicate"``). Every
# candidate record found by the index is re-scored from *all* face pairs of the two
# records (fusion), calibrated to a false-match rate, checked for age plausibility, and
# enters or updates the queue when its rate is at most ``QUEUE_FMR``.

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.review.age import AgeFacts, check
from matcher.review.calibration import Calibration, calibrate, in_words
from matcher.review.fusion import fuse
from matcher.store import repo
from matcher.store.tables import (
    CalibrationRow,
    Candidate,
    Decision,
    Embedding,
    Face,
    Media,
    Record,
)
from matcher.vectors import stack_bytes

log = logging.getLogger(__name__)
CHILD, REPORT = "child", "report"  # adapted: no longer exported by matcher.store.tables
ACTIVE = ("open", "unsure", "awaiting_second")
SYSTEM = "system"


@dataclass(frozen=True)
class Template:
    face_ids: np.ndarray
    vectors: np.ndarray
    dates: tuple[dt.date | None, ...]


def template(session: Session, record_id: int, pack: str, dim: int) -> Template:
    rows = session.execute(
        select(Face.id, Embedding.vector, Media.taken_at, Media.received_at)
        .join(Embedding, Embedding.face_id == Face.id)
        .join(Media, Media.id == Face.media_id)
        .where(Media.record_id == record_id, Embedding.pack == pack, Face.selected.is_(True))
        .order_by(Face.id)
    ).all()
    if not rows:
        return Template(np.zeros(0, np.int64), np.zeros((0, dim), np.float32), ())
    vectors = stack_bytes((r[1] for r in rows), dim)
    dates = tuple((r[2] or r[3]).date() if (r[2] or r[3]) else None for r in rows)
    return Template(np.array([r[0] for r in rows], np.int64), vectors, dates)


def current_calibration(session: Session, pack: str, dim: int, prior: tuple[float, float] = (0.15, 0.1), growth: float = 0.1) -> Calibration:
    """The stored calibration, refreshed when the gallery has grown by ``growth`` since;
    the pack's prior while the gallery is too small to measure its own."""
    n_records = (
        session.scalar(select(func.count(func.distinct(Media.record_id))).join(Face).join(Embedding).where(Embedding.pack == pack, Face.selected.is_(True)))
        or 0
    )
    row = session.scalar(select(CalibrationRow).where(CalibrationRow.pack == pack).order_by(CalibrationRow.id.desc()).limit(1))
    if row is not None and n_records <= row.n_records * (1 + growth) and n_records >= row.n_records:
        return Calibration.from_dict(row.data).or_prior(*prior)
    sides = []
    for side in (CHILD, REPORT):
        rows = session.execute(
            select(Media.record_id, Embedding.vector)
            .join(Record, Record.id == Media.record_id)
            .join(Face, Face.media_id == Media.id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Embedding.pack == pack, Face.selected.is_(True), Record.side == side)
        ).all()
        owners = np.array([r[0] for r in rows], np.int64)
        vectors = stack_bytes((r[1] for r in rows), dim)
        sides.append((vectors, owners))
    calibration = calibrate(pack, sides)
    session.add(CalibrationRow(pack=pack, n_records=n_records, data=calibration.as_dict()))
    log.info("calibration for %s refreshed: %d records, %d impostor pairs", pack, calibration.n_records, calibration.n_pairs)
    return calibration.or_prior(*prior)


class Matcher:
    def __init__(self, services, pack: str | None = None) -> None:
        self.services = services
        self.settings = services.settings
        info = services.pack_info(pack)
        self.pack, self.dim, self.hint, self.prior = info.name, info.embedding_dim, info.same_person_threshold, info.impostor_prior

    def match(self, session: Session, record_ids: list[int]) -> list[Candidate]:
        calibration = current_calibration(session, self.pack, self.dim, self.prior)
        touched: list[Candidate] = []
        for record_id in record_ids:
            record = session.get(Record, record_id)
            if record is None or record.status == "withdrawn":
                continue
            mine = template(session, record.id, self.pack, self.dim)
            if not len(mine.face_ids):
                continue
            other = CHILD if record.side == REPORT else REPORT
            kinds = [("duplicate", record.side)] if record.status == "closed" else [("match", other), ("duplicate", record.side)]
            for kind, side in kinds:
                for target_id in self._neighbours(session, mine, side, exclude=record.id):
                    target = session.get(Record, target_id)
                    if kind == "match" and target.status != "open":
                        continue
                    theirs = template(session, target.id, self.pack, self.dim)
                    if not len(theirs.face_ids):
                        continue
                    pair = (record, mine, target, theirs) if record.side == REPORT or kind == "duplicate" else (target, theirs, record, mine)
                    cand = self._score(session, kind, *pair, calibration)
                    if cand is not None:
                        touched.append(cand)
        return touched

    def _neighbours(self, session: Session, mine: Template, side: str, exclude: int) -> list[int]:
        index = self.services.index(side, self.pack)
        if len(index) == 0:
            return []
        hits = index.search(mine.vectors, min(len(index), self.settings.match_neighbours))
        meta = repo.face_hits(session, (fid for row in hits for fid, _ in row))
        return sorted({m.record_id for m in meta.values() if m.record_id != exclude})

    def _score(self, session: Session, kind: str, a: Record, ta: Template, b: Record, tb: Template, calibration: Calibration) -> Candidate | None:
        if kind == "duplicate" and a.id > b.id:
            a, ta, b, tb = b, tb, a, ta
        sims = ta.vectors @ tb.vectors.T
        fused = fuse(sims, getattr(self.settings, "fusion", "best"), self.hint)  # adapted: getattr
        fmr = calibration.fmr(fused.score)
        i, j = fused.best
        age = check(
            AgeFacts(
                report_birth_year=a.birth_year or (a.birth_date.year if a.birth_date else None),
                report_last_seen=a.event_on if a.side == REPORT else None,
                report_sex=a.sex,
                report_photo_date=ta.dates[i],
                child_birth_year=b.birth_year or (b.birth_date.year if b.birth_date else None),
                child_found=b.event_on if b.side == CHILD else None,
                child_sex=b.sex,
                child_photo_date=tb.dates[j],
            )
        )
        evidence = {
            "fusion": self.settings.fusion,
            "pairs": [{"report_face": int(ta.face_ids[p]), "child_face": int(tb.face_ids[q]), "score": round(s, 4)} for p, q, s in fused.pairs[:5]],
            "face_pairs_compared": int(sims.size),
            "fmr_in_words": in_words(fmr),
            "calibration": {"records": calibration.n_records, "impostor_pairs": calibration.n_pairs, "source": calibration.source},
            "age": age.as_dict(),
            "plausible": age.plausible,
            "flags": list(age.flags),
        }
        existing = session.scalar(select(Candidate).where(Candidate.kind == kind, Candidate.report_id == a.id, Candidate.child_id == b.id))
        if existing is None:
            if fmr > getattr(self.settings, "queue_fmr", 0.01):  # adapted: getattr, old default
                return None
            cand = Candidate(kind=kind, report_id=a.id, child_id=b.id, pack=self.pack, score=fused.score, fmr=fmr, status="open", evidence=evidence)
            session.add(cand)
            session.flush()
            repo.audit(session, SYSTEM, "system", "candidate_created", "candidate", str(cand.id), score=round(fused.score, 4), fmr=fmr)
            return cand
        if existing.status == "confirmed":
            return None
        if existing.status == "rejected":
            last = session.scalar(
                select(Decision.score_at_decision)
                .where(Decision.candidate_id == existing.id, Decision.verdict == "rejected")
                .order_by(Decision.id.desc())
                .limit(1)
            )
            if last is not None and fused.score <= last + 1e-6:
                return None  # same (or weaker) evidence: stays rejected
            existing.status = "open"
            repo.audit(session, SYSTEM, "system", "candidate_requeued", "candidate", str(existing.id), score=round(fused.score, 4), rejected_at=last)
        elif abs(existing.score - fused.score) > 1e-6:
            repo.audit(session, SYSTEM, "system", "candidate_rescored", "candidate", str(existing.id), old=round(existing.score, 4), new=round(fused.score, 4))
        existing.score, existing.fmr, existing.evidence = fused.score, fmr, evidence
        return existing


def strength_key(candidate: Candidate) -> tuple:
    """Queue order: plausible before implausible, then lower false-match rate, then score."""
    implausible = (candidate.evidence or {}).get("plausible") is False
    return (implausible, candidate.fmr if candidate.fmr is not None else 1.0, -candidate.score, candidate.id)
