"""Cohorts for score normalisation, kept with each record (``CohortRow``) and kept fresh.

A record's cohort against a side is its ``K`` best record-pair scores against the other
records of that side (``review.normalization``). The stored list holds the larger of the
S-norm's ``K`` and the rank score's (``CohortSizes``); both cohorts are computed from it.
Which cohorts exist:

* every child against the children (``against="child"``): the gallery term of a match and
  both terms of a child duplicate;
* every report against the children (``against="child"``): the query term of a match, so
  a pair scores the same whichever of its records arrived last;
* every report against the reports (``against="report"``): both terms of a report duplicate.

Freshness: whenever a record is matched its own cohorts are recomputed from the search it
runs anyway, and each record it meets on the way has the new score merged into its top-K
(``merge_top``: exact for everyone the new record's search reached). Erasure removes the
erased record from the lists that hold it (``forget``). A full refresh
(``review.upkeep.refresh_cohorts``) runs with the calibration refresh (the gallery grew by
10 %) and on ``matcher reindex``.

``CohortTable`` reads only the numbers (mean, spread, K-th score) of the records a match
touches, and the stored lists only of those a new score actually enters; writes are bulk.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from matcher.review.normalization import Cohort, CohortSizes, cohort_of_best
from matcher.store.tables import CohortRow

Top = list[list]  # [[record_id, score], ...], best first
NO_KTH = -1.0  # below any cosine: while a list has fewer than K entries every score enters
CHUNK = 900


def merge_top(top: Top, new: dict[int, float], k: int, drop: set[int] | frozenset[int] = frozenset()) -> Top:
    """Merge fresh scores into a best-first top-K list (fresh scores replace old ones); ties
    by record id. Scores are kept to 6 decimals."""
    replaced = {int(rid) for rid in new} | set(drop)
    items = [(-float(s), int(rid)) for rid, s in top if int(rid) not in replaced]
    items += [(-round(float(s), 6), int(rid)) for rid, s in new.items() if int(rid) not in drop]
    items.sort()  # (-score, id): best first, then by id, compared in C
    return [[rid, -neg] for neg, rid in items[:k]]


@dataclass
class _State:
    row_id: int | None
    cohort: Cohort  # S-norm cohort (the first ``k`` of the list)
    rank: Cohort  # rank cohort (the first ``rank_k``)
    kth: float
    top: Top | None = None  # loaded only when the list must change
    dirty: bool = False
    floor: float | None = None  # reports against the children only (``CohortRow.floor``)
    floor_dirty: bool = False


class CohortTable:
    """The cohorts of one (pack, against) side for the records a match touches."""

    def __init__(self, session: Session, pack: str, against: str, sizes: CohortSizes, prior: Cohort) -> None:
        self.session, self.pack, self.against, self.sizes, self.prior = session, pack, against, sizes, prior
        self.k = sizes.stored  # the stored list's length
        self._s: dict[int, _State] = {}
        self.moved: set[int] = set()  # records whose cohorts moved since this table was read

    def ensure(self, record_ids) -> None:
        need = sorted({int(r) for r in record_ids if int(r) not in self._s})  # not a set difference: O(new), not O(table)
        cols = (
            CohortRow.record_id,
            CohortRow.id,
            CohortRow.mean,
            CohortRow.std,
            CohortRow.n,
            CohortRow.kth,
            CohortRow.rank_mean,
            CohortRow.rank_std,
            CohortRow.rank_n,
            CohortRow.floor,
        )
        for start in range(0, len(need), CHUNK):
            rows = self.session.execute(
                select(*cols).where(CohortRow.pack == self.pack, CohortRow.against == self.against, CohortRow.record_id.in_(need[start : start + CHUNK]))
            )
            for rid, row_id, mean, std, n, kth, rmean, rstd, rn, floor in rows:
                cohort = Cohort(mean, std, n) if n else self.prior
                rank = (Cohort(rmean, rstd, rn) if rn else self.prior) if rn is not None else cohort  # a row written before rank cohorts: until refreshed
                self._s[rid] = _State(row_id, cohort, rank, kth, floor=floor)
        for rid in need:
            self._s.setdefault(rid, _State(None, self.prior, self.prior, NO_KTH, top=[]))

    def cohort(self, rid: int) -> Cohort:
        st = self._s.get(rid)
        return self.prior if st is None else st.cohort

    def rank_cohort(self, rid: int) -> Cohort:
        st = self._s.get(rid)
        return self.prior if st is None else st.rank

    def floor(self, rid: int) -> float | None:
        st = self._s.get(rid)
        return None if st is None else st.floor

    def set_floor(self, rid: int, floor: float | None) -> None:
        """A report's list floor (see ``CohortRow.floor``)."""
        self.ensure([rid])
        st = self._s[rid]
        if st.floor != floor:
            st.floor, st.floor_dirty = floor, True

    def set(self, rid: int, scores: dict[int, float], length: int | None = None) -> None:
        """A record's own list, recomputed from scratch. ``length``: how many scores its list
        keeps (default: ``CohortSizes.stored``; a report's list against the children needs
        only the S-norm's ``k``: no rank score is centred on a report there)."""
        self.ensure([rid])
        self._put(rid, merge_top([], scores, length or self.k), length or self.k)

    def offer(self, fresh: dict[int, dict[int, float]], length: int | None = None) -> int:
        """``fresh[g][q]``: new scores between record ``g`` and records ``q``; merged into
        ``g``'s list where they enter its top-K (``length`` as in ``set``). Returns how many
        lists changed."""
        self.ensure(fresh)
        entering = {g: {q: s for q, s in qs.items() if s > self._s[g].kth} for g, qs in fresh.items()}
        entering = {g: qs for g, qs in entering.items() if qs}
        self._load_tops([g for g in entering if self._s[g].top is None])
        for g, qs in entering.items():
            self._put(g, merge_top(self._s[g].top, qs, length or self.k), length or self.k)
        return len(entering)

    def _put(self, rid: int, top: Top, length: int) -> None:
        st = self._s[rid]
        st.top, st.dirty = top, True
        cohort, rank = cohorts_of_list(top, self.sizes, self.prior)
        if _moved(cohort, st.cohort) or _moved(rank, st.rank):
            self.moved.add(rid)
        st.cohort, st.rank = cohort, rank
        st.kth = top[length - 1][1] if len(top) >= length else NO_KTH

    def _load_tops(self, rids: list[int]) -> None:
        for start in range(0, len(rids), CHUNK):
            rows = self.session.execute(
                select(CohortRow.record_id, CohortRow.top).where(
                    CohortRow.pack == self.pack, CohortRow.against == self.against, CohortRow.record_id.in_(rids[start : start + CHUNK])
                )
            )
            for rid, top in rows:
                self._s[rid].top = list(top or [])
        for rid in rids:
            if self._s[rid].top is None:
                self._s[rid].top = []

    def flush(self) -> int:
        """Write the changed lists (bulk insert / bulk update by primary key)."""
        new, changed = [], []
        for rid, st in self._s.items():
            if not st.dirty and not st.floor_dirty:
                continue
            values: dict = {"floor": st.floor}
            if st.dirty or st.row_id is None:
                if st.top is None:  # only the floor changed on a row never read whole
                    st.top = []
                values |= {"top": st.top, "kth": st.kth, "mean": st.cohort.mean, "std": st.cohort.std, "n": st.cohort.n}
                values |= {"rank_mean": st.rank.mean, "rank_std": st.rank.std, "rank_n": st.rank.n}
            if st.row_id is None:
                new.append({"record_id": rid, "pack": self.pack, "against": self.against, **values})
            else:
                changed.append({"id": st.row_id, **values})
            st.dirty = st.floor_dirty = False
        if new:
            ids = self.session.scalars(insert(CohortRow).returning(CohortRow.id, sort_by_parameter_order=True), new).all()
            for row, row_id in zip(new, ids, strict=True):
                self._s[row["record_id"]].row_id = row_id
        for group in same_keys(changed):  # one executemany per column set
            self.session.execute(update(CohortRow), group)
        return len(new) + len(changed)


def _moved(new: Cohort, old: Cohort) -> bool:
    return abs(new.mean - old.mean) > 1e-9 or abs(new.std - old.std) > 1e-9


def same_keys(rows: list[dict]) -> list[list[dict]]:
    """Rows for a bulk UPDATE by primary key, grouped so each group has the same columns
    (one executemany each)."""
    by: dict[tuple, list[dict]] = {}
    for row in rows:
        by.setdefault(tuple(sorted(row)), []).append(row)
    return list(by.values())


def cohorts_of_list(top: Top, sizes: CohortSizes, prior: Cohort) -> tuple[Cohort, Cohort]:
    """(S-norm cohort, rank cohort) of one stored best-first list."""
    scores = [s for _, s in top]
    return cohort_of_best(scores, sizes.k, prior), cohort_of_best(scores, sizes.rank_k, prior)


def forget(session: Session, record_ids: set[int], sizes: CohortSizes, prior: Cohort, pack: str | None = None) -> int:
    """Remove erased records from every list that holds them (before their rows go)."""
    if not record_ids:
        return 0
    session.execute(delete(CohortRow).where(CohortRow.record_id.in_(sorted(record_ids))))
    query = select(CohortRow)
    if pack:
        query = query.where(CohortRow.pack == pack)
    changed = 0
    for row in session.scalars(query):
        if row.record_id in record_ids or not any(int(rid) in record_ids for rid, _ in row.top):
            continue
        row.top = [[rid, s] for rid, s in row.top if int(rid) not in record_ids]
        c, r = cohorts_of_list(row.top, sizes, prior)
        row.mean, row.std, row.n, row.kth = c.mean, c.std, c.n, NO_KTH  # shorter than K now: open to any score
        row.rank_mean, row.rank_std, row.rank_n = r.mean, r.std, r.n
        changed += 1
    return changed
