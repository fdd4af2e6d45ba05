"""Cohorts for score normalisation, kept with each record (``CohortRow``) and kept fresh.

A record's cohort against a side is its ``K`` best record-pair scores against the other
records of that side (``review.normalization``). Which cohorts exist:

* every child against the children (``against="child"``): the gallery term of a match and
  both terms of a child duplicate;
* every report against the children (``against="child"``): the query term of a match, so
  a pair scores the same whichever of its records arrived last;
* every report against the reports (``against="report"``): both terms of a report duplicate.

Freshness: whenever a record is matched its own cohorts are recomputed from the search it
runs anyway, and each record it meets on the way has the new score merged into its top-K
(``merge_top``: exact for everyone the new record's search reached). Erasure removes the
erased record from the lists that hold it. A full refresh (``refresh``) runs with the
calibration refresh (the gallery grew by 10 %) and on ``matcher reindex``.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.review.normalization import Cohort, cohort_of
from matcher.store.models import CohortRow

Top = list[list]  # [[record_id, score], ...], best first


def against_for(side: str, kind: str) -> str:
    """The side a record's cohort is taken against for a candidate of this kind."""
    return "child" if kind == "match" else side


def merge_top(top: Top, new: dict[int, float], k: int, drop: set[int] | frozenset[int] = frozenset()) -> Top:
    """Merge fresh scores into a best-first top-K list (fresh scores replace old ones)."""
    merged = {int(rid): float(s) for rid, s in top if int(rid) not in drop}
    for rid, s in new.items():
        if int(rid) not in drop:
            merged[int(rid)] = float(s)
    best = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [[rid, round(s, 6)] for rid, s in best]


def as_cohort(row: CohortRow | None, prior: Cohort) -> Cohort:
    return prior if row is None else Cohort(row.mean, row.std, row.n) if row.n else prior


def load(session: Session, record_ids, pack: str, against: str) -> dict[int, CohortRow]:
    ids = sorted({int(i) for i in record_ids})
    out: dict[int, CohortRow] = {}
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        rows = session.scalars(select(CohortRow).where(CohortRow.pack == pack, CohortRow.against == against, CohortRow.record_id.in_(chunk)))
        out.update({r.record_id: r for r in rows})
    return out


def put(session: Session, rows: dict[int, CohortRow], record_id: int, pack: str, against: str, top: Top, k: int, prior: Cohort) -> CohortRow:
    """Store a record's top-K list (and its mean/spread) in ``rows`` and the session."""
    c = cohort_of(np.array([s for _, s in top], np.float64), k, prior)
    row = rows.get(record_id)
    if row is None:
        row = CohortRow(record_id=record_id, pack=pack, against=against, top=top, mean=c.mean, std=c.std, n=c.n)
        session.add(row)
        rows[record_id] = row
    else:
        row.top, row.mean, row.std, row.n = top, c.mean, c.std, c.n
    return row


def update_neighbours(session: Session, rows: dict[int, CohortRow], scores: dict[int, dict[int, float]], pack: str, against: str, k: int, prior: Cohort) -> int:
    """``scores[g][q]``: a fresh score between neighbour ``g`` and new record ``q``; merge it
    into ``g``'s list when it enters its top-K. Returns how many lists changed."""
    changed = 0
    for g, fresh in scores.items():
        row = rows.get(g)
        top = list(row.top) if row is not None else []
        kth = top[k - 1][1] if len(top) >= k else -np.inf
        worth = {q: s for q, s in fresh.items() if s > kth or any(int(r) == q for r, _ in top)}
        if not worth:
            continue
        put(session, rows, g, pack, against, merge_top(top, worth, k), k, prior)
        changed += 1
    return changed


def forget(session: Session, record_ids: set[int], pack: str | None = None) -> int:
    """Remove erased records from every list that holds them (before the rows go)."""
    if not record_ids:
        return 0
    query = select(CohortRow)
    if pack:
        query = query.where(CohortRow.pack == pack)
    changed = 0
    for row in session.scalars(query):
        if row.record_id in record_ids:
            continue
        if any(int(rid) in record_ids for rid, _ in row.top):
            row.top = [[rid, s] for rid, s in row.top if int(rid) not in record_ids]
            scores = np.array([s for _, s in row.top], np.float64)
            c = cohort_of(scores, max(len(scores), 1), Cohort(row.mean, row.std, 0))
            row.mean, row.std, row.n = c.mean, c.std, c.n
            changed += 1
    return changed
