"""The reviewers' queue as the pages show it (read-only; ``ReviewService`` calls these).

* ``load_rows``: candidates as rows in a few bulk queries — both record numbers, the child's
  name and shelter, the rank score (S-normalised when ``MATCHER_SCORE_NORM=snorm``) and the
  face similarity (the raw cosine of the best face pair), the false-match rate, whether it
  is a strong lead, age and name evidence, and the best face pair.
* ``keep``: the page filters (flag, shelter, largest birth-year gap).
* ``group_by_report`` / ``in_report_order``: issue 17's view — each report's shortlist in
  ``review.ranking`` order (plausible first, then name agreement, then rank score), at most
  ``MATCHER_SHORTLIST`` of them, reports with strong leads first.

Rows carry the records' database ids under ``report_db`` / ``child_db`` for ordering; pages
link by candidate id and report number only.

* ``leads``: ``GET /v1/queue`` and ``matcher queue`` — the candidates (``ReviewService.queue``)
  and the sightings (``SightingService.queue``, ``kind: "sighting"``, with ``url``) in one
  list, strongest first; ``kind`` keeps one kind. Ids are per kind: a sighting is opened
  at its ``url``, a candidate at ``/v1/candidates/{id}``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.review.calibration import in_words
from matcher.review.names import compare_names
from matcher.review.ranking import Ranked, order, queue_key, shortlist
from matcher.store.tables import Candidate, Record
from matcher.types import CandidateKind

# evidence flags a reviewer can filter the queue by (set by ``matcher.review.age``)
FLAGS = ("birth_year_mismatch", "found_before_last_seen", "photo_before_birth", "sex_mismatch", "dates_missing")
SUPERSEDED = "superseded"  # pushed out of a report's shortlist undecided: not in the default queue
WORK = ("open",)  # what a reviewer still has to look at in a report's list
CHUNK = 900


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _records(session: Session, ids: Iterable[int]) -> dict[int, tuple]:
    cols = (Record.id, Record.external_id, Record.name, Record.shelter, Record.side, Record.birth_year, Record.sex, Record.status)
    out: dict[int, tuple] = {}
    for chunk in _chunks(ids):
        out.update({row[0]: row for row in session.execute(select(*cols).where(Record.id.in_(chunk)))})
    return out


def _columns():
    """What a queue row needs, read with the database's JSON functions (SQLite ``json_extract``,
    PostgreSQL ``->>``) so that no candidate's whole evidence is parsed to list it."""
    ev = Candidate.evidence
    return (
        Candidate.id,
        Candidate.kind,
        Candidate.status,
        Candidate.report_id,
        Candidate.child_id,
        Candidate.score,
        func.coalesce(Candidate.rank_score, Candidate.score),
        func.coalesce(Candidate.raw_score, ev["raw_score"].as_float()),
        Candidate.fmr,
        func.coalesce(Candidate.plausible, ev["plausible"].as_boolean()),
        func.coalesce(Candidate.name_level, ev[("name", "level")].as_string()),
        ev["strong"].as_boolean(),
        ev["score_norm"].as_string(),
        ev[("age", "birth_year_gap")].as_integer(),
        ev["flags"].as_json(),
        ev[("pairs", 0, "report_face")].as_integer(),
        ev[("pairs", 0, "child_face")].as_integer(),
    )


def row_of(values: tuple, records: dict[int, tuple]) -> dict:
    """One candidate (a ``_columns`` result) as a queue row (see the module docstring)."""
    cid, kind, status, report_db, child_db, score, rank, raw, fmr, plausible, level, strong, norm, gap, flags, rface, cface = values
    report, child = records[report_db], records[child_db]
    return {
        "id": cid,
        "kind": kind,
        "status": status,
        "report_id": report[1],
        "child_id": child[1],
        "report_db": report_db,
        "child_db": child_db,
        "report_name": report[2],
        "report_status": report[7],
        "child_name": child[2],
        "shelter": child[3],
        "score": float(score),
        "rank_score": float(rank),
        "raw_score": float(raw) if raw is not None else None,
        "normalised": norm == "snorm",
        "fmr": fmr,
        "fmr_in_words": in_words(fmr) if fmr is not None else None,
        "strong": bool(strong),
        "plausible": None if plausible is None else bool(plausible),
        "flags": list(flags or []),
        "gap": gap,
        "name_level": level,
        "pair": {"report_face": rface, "child_face": cface} if rface is not None and cface is not None else None,
        "strength": queue_key(None if plausible is None else bool(plausible), level, fmr, float(score), kind, cid),
    }


def load_rows(session: Session, kind: str | None = None, status: str | None = "open", report_ids: Iterable[int] | None = None) -> list[dict]:
    """Rows of the candidates of ``kind`` (any when None) with ``status`` (any but
    superseded when None), optionally of some reports only, in queue strength order."""
    query = select(*_columns())
    if kind:
        query = query.where(Candidate.kind == kind)
    query = query.where(Candidate.status == status) if status else query.where(Candidate.status != SUPERSEDED)
    if report_ids is not None:
        ids = sorted(set(report_ids))
        if not ids:
            return []
        query = query.where(Candidate.report_id.in_(ids))
    found = session.execute(query).all()
    records = _records(session, {v[3] for v in found} | {v[4] for v in found})
    return sorted((row_of(tuple(v), records) for v in found), key=lambda r: r["strength"])


def lead_strength(row: dict) -> tuple:
    """Queue order of a ``leads`` row, candidate or sighting (``review.ranking.queue_key``;
    a sighting has no name: unknown)."""
    ev = row.get("evidence") or {}
    plausible = row["plausible"] if "plausible" in row else ev.get("plausible")
    return queue_key(plausible, (ev.get("name") or {}).get("level"), row["fmr"], row["score"], row["kind"], row["id"])


def merge_leads(candidates: list[dict], sightings: list[dict], limit: int) -> list[dict]:
    """Two lists, each already strongest first, as one of at most ``limit``: a merge, so each
    keeps its own order (the candidates' exactly as ``ReviewService.queue`` gives it)."""
    return list(heapq.merge(candidates, sightings, key=lead_strength))[:limit]


def leads(services, status: str | None, limit: int, kind: str | None = None) -> list[dict]:
    """The reviewers' queue (``GET /v1/queue``, ``matcher queue``): candidates and sightings
    with ``status`` (any when None), strongest first; ``kind`` (match, duplicate, sighting)
    keeps one kind. A read like the candidates' queue: not audited (opening a lead is)."""
    candidates = [] if kind == CandidateKind.SIGHTING else services.review.queue(status, limit, kind)
    sightings = services.sightings.queue(status, limit) if kind in (None, "", CandidateKind.SIGHTING) else []
    return merge_leads(candidates, sightings, limit)


def keep(row: dict, flag: str = "", shelter: str = "", max_gap: int | None = None) -> bool:
    """The page filters: ``flag`` (``plausible``, ``implausible`` or a FLAGS name; anything
    else is ignored), ``shelter`` (case-insensitive substring of the child's shelter) and the
    largest birth-year gap in years (rows without a known gap are left out)."""
    if flag == "plausible" and row["plausible"] is False:
        return False
    if flag == "implausible" and row["plausible"] is not False:
        return False
    if flag in FLAGS and flag not in row["flags"]:
        return False
    if shelter and shelter.lower() not in (row["shelter"] or "").lower():
        return False
    return max_gap is None or (row["gap"] is not None and abs(row["gap"]) <= max_gap)


@dataclass(frozen=True)
class _Item(Ranked):
    row: dict = field(default_factory=dict, compare=False)


def _items(rows: Iterable[dict]) -> list[_Item]:
    return [_Item(r["child_db"], r["rank_score"], r["plausible"], r["name_level"], r) for r in rows]


def in_report_order(rows: Iterable[dict], n: int, use_age: bool = True, use_name: bool = True) -> list[dict]:
    """One report's shortlist as the matcher keeps it: the best ``n`` (plausible first, then
    rank score), shown plausible first, then by name agreement, then rank score."""
    return [i.row for i in shortlist(_items(rows), n, use_age, use_name)]


def in_display_order(rows: Iterable[dict], use_age: bool = True, use_name: bool = True) -> list[dict]:
    """All of them, in the same display order (nothing cut)."""
    return [i.row for i in order(_items(rows), use_age, use_name)]


def group_by_report(rows: Iterable[dict], n: int, use_age: bool = True, use_name: bool = True) -> list[dict]:
    """Match rows grouped by report: ``{"report": {...}, "rows": [...≤ n, ranking order],
    "total", "strong"}``; reports holding a strong (or otherwise stronger) lead come first."""
    by: dict[int, list[dict]] = {}
    for r in rows:
        if r["kind"] == CandidateKind.MATCH:
            by.setdefault(r["report_db"], []).append(r)
    groups = []
    for report_db, members in by.items():
        listed = in_report_order(members, n, use_age, use_name)
        first = members[0]
        groups.append(
            {
                "report": {"id": report_db, "number": first["report_id"], "name": first["report_name"], "status": first["report_status"]},
                "rows": listed,
                "total": len(members),
                "strong": sum(1 for r in listed if r["strong"]),
                "best": listed[0] if listed else None,
                "key": (not any(r["strong"] for r in listed), min(r["strength"] for r in listed), report_db),
            }
        )
    groups.sort(key=lambda g: g["key"])
    return groups


@dataclass(frozen=True)
class NameLine:
    """The name evidence a reviewer reads: both records' names as written, their Latin forms,
    and the agreement level (``review.names``)."""

    report: str | None
    child: str | None
    report_form: str
    child_form: str
    level: str

    @property
    def sign(self) -> str:
        return {"same": "≈", "similar": "≈", "different": "≠"}.get(self.level, "vs")

    def as_dict(self) -> dict:
        return {
            "report": self.report,
            "child": self.child,
            "report_form": self.report_form,
            "child_form": self.child_form,
            "level": self.level,
            "sign": self.sign,
        }


def name_line(report_name: str | None, child_name: str | None) -> NameLine:
    agreement = compare_names(report_name, child_name)
    return NameLine(report_name, child_name, agreement.report_form, agreement.child_form, agreement.level)
