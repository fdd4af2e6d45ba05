"""Searching a sweep's probes against the open records, and which become sightings.

Every searchable probe (a video track or a photo face, ``sightings.probes``) is searched
against one side's index with ``services.search.search_records`` — the ranking used
everywhere else: best face pair per record, S-norm with the stored cohorts, plausibility
before score (``review.ranking``). Only open records count (a closed report's child is
found; a withdrawn one is gone). When the source's date is known, a record the footage
predates (shot before the child's birth, or before a report's last-seen date) is flagged
implausible with ``review.age.check`` and ranks last.

The queue rule is the one duplicates and strong leads use: the open-set rate
``min(1, N x fmr)`` at most ``MATCHER_QUEUE_FPIR``, with N the open records of that side
that have faces and ``fmr`` the calibration's rate (on the normalised score when the
calibration was measured on it, else on the raw cosine: the pack's prior).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.review.age import AgeFacts, check
from matcher.review.calibration import Calibration, in_words
from matcher.review.evidence import birth_year_of
from matcher.review.ranking import Ranked, shortlist
from matcher.review.templates import load_records, load_templates
from matcher.review.upkeep import current_calibration
from matcher.services.search import Ranking, search_records
from matcher.sightings.needs import SightingServices
from matcher.sightings.probes import Probe
from matcher.store import repo
from matcher.store.tables import Embedding, Face, Media, Record
from matcher.types import RecordStatus, Side

EXTRA = 10  # neighbours fetched beyond top_k, so closed records dropped afterwards leave a full list
MAX_PER_PROBE = 3  # records one probe may become a sighting of (two relatives may report one child)


@dataclass(frozen=True)
class Hit:
    """One record a probe was compared with, ranked."""

    record_id: int  # database id
    number: str  # the record's own number
    side: str
    score: float  # cross-record score (normalised with snorm): the queue rule's rate rests on it
    raw: float  # best face pair cosine
    fmr: float
    fpir: float
    passes: bool  # the queue rule
    plausible: bool | None
    flags: tuple[str, ...]
    face_id: int  # the record's face of the best pair
    query_face: int  # index into the probe's faces
    rank: float = 0.0  # orders one probe's records (MATCHER_RANK_SCORE, on the record's cohort)
    record_rank: float = 0.0  # orders one record's sightings (the same rule on the probe's cohort)

    def as_dict(self) -> dict:
        return {
            "record": self.number,
            "side": self.side,
            "score": round(self.score, 4),
            "rank_score": round(self.rank, 4),
            "raw_score": round(self.raw, 4),
            "fmr": self.fmr,
            "fpir": self.fpir,
            "sighting": self.passes,
            "plausible": self.plausible,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    searched: bool
    hits: dict[str, list[Hit]] = field(default_factory=dict)  # side -> ranked hits

    def passing(self) -> list[Hit]:
        return [h for side in self.hits.values() for h in side if h.passes]


@dataclass(frozen=True)
class Gate:
    """What the queue rule needs for one sweep: the calibration and N per side."""

    calibration: Calibration
    n_open: dict[str, int]
    fpir_max: float
    ranking: Ranking

    def rate(self, score: float, raw: float) -> float:
        normalised = self.ranking.norm and self.calibration.normalised
        return float(self.calibration.fmr(score if normalised else raw))

    def describe(self, side: str) -> dict:
        c = self.calibration
        return {
            "source": c.source,
            "records": c.n_records,
            "impostor_pairs": c.n_pairs,
            "normalised": c.normalised,
            "open_records": self.n_open.get(side, 0),
            "queue_fpir": self.fpir_max,
        }


def open_records_with_faces(session: Session, side: str, pack: str) -> int:
    """N of the open-set rate: open records of ``side`` with at least one template face."""
    return int(
        session.scalar(
            select(func.count(func.distinct(Media.record_id)))
            .join(Record, Record.id == Media.record_id)
            .join(Face, Face.media_id == Media.id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Record.side == side, Record.status == RecordStatus.OPEN, Embedding.pack == pack, Face.selected.is_(True))
        )
        or 0
    )


def make_gate(session: Session, services: SightingServices, sides: list[str], pack: str | None = None) -> Gate:
    settings = services.settings
    info = services.pack_info(pack)
    ranking = Ranking.from_settings(settings, info)
    calibration = current_calibration(session, services, info.name, info.embedding_dim, info.impostor_prior, ranking.norm, ranking.sizes)
    n_open = {side: open_records_with_faces(session, side, info.name) for side in sides}
    return Gate(calibration, n_open, settings.queue_fpir, ranking)


def source_check(record: Record, taken_on: dt.date | None) -> tuple[bool | None, tuple[str, ...]]:
    """Plausibility of seeing ``record`` in footage shot on ``taken_on`` (``review.age.check``:
    the footage stands where a shelter's "found" date would). Unknown date: not judged."""
    if taken_on is None:
        return None, ()
    if record.side == Side.REPORT:
        facts = AgeFacts(
            report_birth_year=birth_year_of(record),
            report_last_seen=record.event_on,
            report_sex=record.sex,
            report_photo_date=None,
            child_birth_year=None,
            child_found=taken_on,
            child_sex=None,
            child_photo_date=taken_on,
        )
    else:
        facts = AgeFacts(
            report_birth_year=birth_year_of(record),
            report_last_seen=None,
            report_sex=record.sex,
            report_photo_date=taken_on,
            child_birth_year=None,
            child_found=None,
            child_sex=None,
            child_photo_date=None,
        )
    result = check(facts)
    flags = tuple(f for f in result.flags if f != "dates_missing")
    return result.plausible, flags


def search_probes(
    session: Session,
    services: SightingServices,
    probes: tuple[Probe, ...],
    sides: list[str],
    top_k: int,
    gate: Gate,
    taken_on: dt.date | None = None,
    pack: str | None = None,
) -> list[ProbeResult]:
    """Each probe's ranked hits on each side, the queue rule applied. Reads only."""
    out = []
    indexes = {side: services.index(side, pack) for side in sides}
    for probe in probes:
        if not probe.searchable:
            out.append(ProbeResult(probe, False))
            continue
        hits = {side: _search_side(session, indexes[side], probe, side, top_k, gate, taken_on) for side in sides}
        out.append(ProbeResult(probe, True, hits))
    return out


def _search_side(session: Session, index, probe: Probe, side: str, top_k: int, gate: Gate, taken_on: dt.date | None) -> list[Hit]:
    found = search_records(session, index, probe.vectors(), top_k + EXTRA, gate.ranking, None, side)
    if not found:
        return []
    owners = repo.face_hits(session, (c.face_id for c in found))
    records = load_records(session, {h.record_id for h in owners.values()})
    n = gate.n_open.get(side, 0)
    hits: list[Hit] = []
    for c in found:
        owner = owners.get(c.face_id)
        record = records.get(owner.record_id) if owner else None
        if record is None or record.status != RecordStatus.OPEN:
            continue
        plausible, flags = source_check(record, taken_on)
        fmr = gate.rate(c.score, c.raw_score)
        fpir = min(1.0, n * fmr)
        hits.append(
            Hit(
                record.id,
                record.external_id,
                side,
                c.score,
                c.raw_score,
                fmr,
                fpir,
                fpir <= gate.fpir_max,
                plausible,
                flags,
                c.face_id,
                c.query_face,
                c.rank_score,
                c.query_rank_score,
            )
        )
    ranked = {h.record_id: h for h in hits}
    order = shortlist([Ranked(h.record_id, h.rank, h.plausible) for h in hits], top_k, gate.ranking.use_age, False)
    return [ranked[r.record_id] for r in order]


@dataclass(frozen=True)
class Plan:
    """One sighting to create: a record and the probes (tracks) that matched it."""

    record_id: int
    number: str
    side: str
    matches: tuple[tuple[Probe, Hit], ...]  # best first

    @property
    def best(self) -> tuple[Probe, Hit]:
        return self.matches[0]

    @property
    def span(self) -> tuple[float | None, float | None]:
        starts = [p.start for p, _ in self.matches if p.start is not None]
        ends = [p.end for p, _ in self.matches if p.end is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)


def plan_sightings(results: list[ProbeResult]) -> list[Plan]:
    """Passing hits grouped by record: one sighting per record and source, its tracks best first.
    A probe contributes at most ``MAX_PER_PROBE`` records, best first."""
    by_record: dict[int, list[tuple[Probe, Hit]]] = {}
    for result in results:
        passing = sorted(result.passing(), key=lambda h: (-h.rank, h.record_id))[:MAX_PER_PROBE]
        for hit in passing:
            by_record.setdefault(hit.record_id, []).append((result.probe, hit))
    plans = []
    for rid, matches in sorted(by_record.items()):
        matches.sort(key=lambda m: (-m[1].record_rank, m[0].id))
        _, best = matches[0]
        plans.append(Plan(rid, best.number, best.side, tuple(matches)))
    return plans


def face_scores(session: Session, plan: Plan, pack: str, dim: int) -> dict[tuple[int, int], float]:
    """Best cosine of every matched probe face against the record's template faces:
    {(probe id, face index): score}; it chooses and labels the crops that are kept."""
    template = load_templates(session, [plan.record_id], pack, dim).get(plan.record_id)
    out: dict[tuple[int, int], float] = {}
    for probe, _ in plan.matches:
        sims = probe.vectors() @ template.vectors.T if template is not None else np.zeros((len(probe.faces), 1))
        for i, s in enumerate(sims.max(axis=1)):
            out[(probe.id, i)] = float(s)
    return out


def evidence(plan: Plan, gate: Gate, source: dict) -> dict:
    """What a reviewer reads beside the crops (no face data: numbers and times only)."""
    _, best = plan.best
    return {
        "score_norm": "snorm" if gate.ranking.norm else "none",
        "raw_score": best.raw,
        "rank_score": {"method": gate.ranking.rank, "value": round(best.record_rank, 6)},
        "fmr_in_words": in_words(best.fmr),
        "fpir": best.fpir,
        "strong": True,
        "record_face": best.face_id,
        "plausible": best.plausible,
        "flags": list(best.flags),
        "calibration": gate.describe(plan.side),
        "tracks": [
            {**p.summary(), "score": round(h.score, 4), "rank_score": round(h.record_rank, 4), "raw_score": round(h.raw, 4), "fmr": h.fmr, "fpir": h.fpir}
            for p, h in plan.matches
        ],
        "source": source,
    }
