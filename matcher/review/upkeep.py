"""Gallery-wide upkeep for matching: the calibration and the full cohort refresh.

Both describe the whole gallery and are refreshed together when it has grown by
``GROWTH`` (10 %) since they were measured, or when the score they describe changed
(normalisation switched on or off, another ``K``). Between refreshes each match keeps the
cohorts it touches fresh incrementally (``review.cohorts``).
"""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.review import cohorts as coh
from matcher.review.calibration import Calibration, calibrate
from matcher.review.normalization import Cohort, CohortSizes
from matcher.review.templates import side_owners
from matcher.store.tables import CalibrationRow, CohortRow, Embedding, Face, Media, Record
from matcher.vectors import stack_bytes

log = logging.getLogger(__name__)
GROWTH = 0.1
COHORT_PLAN = (("child", "child"), ("report", "child"), ("report", "report"))  # (records, against)


def gallery_size(session: Session, pack: str) -> int:
    return int(
        session.scalar(select(func.count(func.distinct(Media.record_id))).join(Face).join(Embedding).where(Embedding.pack == pack, Face.selected.is_(True)))
        or 0
    )


def current_calibration(session: Session, services, pack: str, dim: int, prior: tuple[float, float], norm: bool, sizes: CohortSizes) -> Calibration:
    """The stored calibration while it still describes the gallery; otherwise every cohort is
    refreshed and the calibration measured again."""
    return calibration_and_refresh(session, services, pack, dim, prior, norm, sizes)[0]


def calibration_and_refresh(
    session: Session, services, pack: str, dim: int, prior: tuple[float, float], norm: bool, sizes: CohortSizes
) -> tuple[Calibration, bool]:
    """``current_calibration``, and whether it refreshed every cohort on the way (then every
    list that the cohorts order must be re-ranked: ``review.runs``)."""
    n_records = gallery_size(session, pack)
    row = session.scalar(select(CalibrationRow).where(CalibrationRow.pack == pack).order_by(CalibrationRow.id.desc()).limit(1))
    if row is not None:
        data = row.data or {}
        same_score = bool(data.get("normalised", False)) == norm and (not norm or data.get("k") == sizes.k) and data.get("rank_k") == sizes.rank_k
        if same_score and row.n_records <= n_records <= row.n_records * (1 + GROWTH):
            return Calibration.from_dict(data).or_prior(*prior), False
    stats = None
    refresh_cohorts(session, services, pack, dim, sizes, Cohort(prior[0], prior[1], 0))
    if norm:
        stats = {}
        for r in session.execute(
            select(CohortRow.record_id, CohortRow.mean, CohortRow.std, Record.side, CohortRow.against)
            .join(Record, Record.id == CohortRow.record_id)
            .where(CohortRow.pack == pack)
        ):
            if r[3] == r[4]:  # a record's cohort against its own side
                stats[r[0]] = (r[1], r[2])
    sides = []
    for side in ("child", "report"):
        rows = session.execute(
            select(Media.record_id, Embedding.vector)
            .join(Record, Record.id == Media.record_id)
            .join(Face, Face.media_id == Media.id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Embedding.pack == pack, Face.selected.is_(True), Record.side == side)
        ).all()
        sides.append((stack_bytes((r[1] for r in rows), dim), np.array([r[0] for r in rows], np.int64)))
    calibration = calibrate(pack, sides, cohorts=stats)
    data = calibration.as_dict() | {"k": sizes.k, "rank_k": sizes.rank_k}
    session.add(CalibrationRow(pack=pack, n_records=n_records, data=data))
    log.info("calibration for %s refreshed: %d records, %d impostor pairs (normalised: %s)", pack, calibration.n_records, calibration.n_pairs, norm)
    return calibration.or_prior(*prior), True


def refresh_cohorts(session: Session, services, pack: str, dim: int, sizes: CohortSizes, prior: Cohort) -> int:
    """Recompute every record's cohorts from one index search per (records, against) pair."""
    k = sizes.stored
    written = 0
    for records_side, against in COHORT_PLAN:
        # faces, owners and vectors from ONE query: other processes may commit faces meanwhile
        rows = session.execute(
            select(Face.id, Media.record_id, Embedding.vector)
            .join(Media, Media.id == Face.media_id)
            .join(Record, Record.id == Media.record_id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Record.side == records_side, Embedding.pack == pack, Face.selected.is_(True))
            .order_by(Face.id)
        ).all()
        index = services.index(against, pack)
        if not rows or len(index) == 0:
            continue
        owner = np.array([r[1] for r in rows], np.int64)
        vectors = stack_bytes((r[2] for r in rows), dim)
        g_faces, g_owner = side_owners(session, against, pack)
        kf = min(len(index), 3 * k + 8)
        labels, scores = _search_arrays(index, vectors, kf)
        pos = np.clip(np.searchsorted(g_faces, labels), 0, max(len(g_faces) - 1, 0))
        known = (labels >= 0) & (len(g_faces) > 0) & (g_faces[pos] == labels if len(g_faces) else False)
        hit_owner = np.where(known, g_owner[pos] if len(g_faces) else -1, -1)  # a face the index has but this read does not: skipped
        top = top_records(owner, hit_owner, scores, k)
        table = coh.CohortTable(session, pack, against, sizes, prior)
        table.ensure(top)
        length = sizes.k if (records_side, against) == ("report", "child") else sizes.stored  # a report's list against the children: S-norm only
        for rid, lst in top.items():
            table.set(rid, dict(lst), length)
        written += table.flush()
    session.flush()
    log.info("cohorts for %s refreshed: %d lists", pack, written)
    return written


def _search_arrays(index, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = index.search(vectors, k)
    labels = np.full((len(rows), k), -1, np.int64)
    scores = np.full((len(rows), k), -np.inf, np.float32)
    for i, row in enumerate(rows):
        if row:
            ids, s = zip(*row, strict=True)
            labels[i, : len(ids)] = ids
            scores[i, : len(s)] = s
    return labels, scores


def top_records(query_owner: np.ndarray, hit_owner: np.ndarray, scores: np.ndarray, k: int) -> dict[int, list[list]]:
    """Face hits -> each query record's K best other records (best face pair), vectorised."""
    q = np.repeat(query_owner, hit_owner.shape[1])
    g = hit_owner.ravel()
    s = scores.ravel().astype(np.float64)
    keep = (g >= 0) & (g != q) & np.isfinite(s)
    q, g, s = q[keep], g[keep], s[keep]
    if q.size == 0:
        return {}
    order = np.lexsort((-s, g, q))  # by query record, other record, best score first
    q, g, s = q[order], g[order], s[order]
    first = np.ones(q.size, bool)
    first[1:] = (q[1:] != q[:-1]) | (g[1:] != g[:-1])
    q, g, s = q[first], g[first], s[first]  # best pair per (query, other)
    order = np.lexsort((g, -s, q))
    q, g, s = q[order], g[order], s[order]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    rank = np.arange(q.size) - np.repeat(starts, np.diff(np.r_[starts, q.size]))
    out: dict[int, list[list]] = {}
    for qi, gi, si in zip(q[rank < k].tolist(), g[rank < k].tolist(), s[rank < k].tolist(), strict=True):
        out.setdefault(qi, []).append([gi, round(si, 6)])
    return out
