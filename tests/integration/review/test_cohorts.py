"""Cohorts kept with the records (issue 17): after matching, every stored top-K list equals a
brute-force computation over the whole side; erasure removes the erased record from every
list; a full refresh (``matcher reindex``) gives the same lists."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from matcher.container import Services
from matcher.evaluation.synthetic import impostor_vectors, index_records, mate_of, store_records
from matcher.store.tables import CohortRow
from matcher.types import Principal
from tests.conftest import make_settings


def brute_force(vectors: dict[int, np.ndarray], k: int) -> dict[int, list[int]]:
    ids = sorted(vectors)
    m = np.stack([vectors[i] for i in ids])
    sims = m @ m.T
    np.fill_diagonal(sims, -np.inf)
    return {ids[i]: [ids[j] for j in sorted(range(len(ids)), key=lambda j: (-sims[i, j], ids[j]))[:k]] for i in range(len(ids))}


def brute_means(vectors: dict[int, np.ndarray], k: int) -> dict[int, float]:
    """Each record's mean of its k best scores against the others."""
    ids = sorted(vectors)
    m = np.stack([vectors[i] for i in ids]).astype(np.float64)
    sims = m @ m.T
    np.fill_diagonal(sims, -np.inf)
    return {ids[i]: float(np.sort(sims[i])[::-1][:k].mean()) for i in range(len(ids))}


def stored_lists(services: Services, against: str) -> dict[int, list[int]]:
    with services.sessions() as session:
        return {r.record_id: [rid for rid, _ in r.top] for r in session.scalars(select(CohortRow).where(CohortRow.against == against))}


def stored_means(services: Services, against: str) -> tuple[dict[int, float], dict[int, float]]:
    with services.sessions() as session:
        rows = list(session.scalars(select(CohortRow).where(CohortRow.against == against)))
        return {r.record_id: r.mean for r in rows}, {r.record_id: r.rank_mean for r in rows}


def test_incremental_cohorts_equal_brute_force_and_erasure_and_refresh(tmp_path):
    """The stored list holds the larger of the S-norm's K (5) and the rank score's K (8);
    both cohort means equal a brute-force computation."""
    services = Services(make_settings(tmp_path / "var", norm_top_k=5, rank_cohort_k=8, match_chunk=7))
    info = services.pack_info()
    base = impostor_vectors(40, info.embedding_dim, *info.impostor_prior, seed=9)
    kids = np.concatenate([base, mate_of(base[:5], 0.6)])  # a few look-alikes make lists interesting
    stored = []
    for wave in (kids[:25], kids[25:]):  # the second wave must update the first wave's lists
        with services.sessions.begin() as session:
            new = store_records(session, "child", wave, info.name, "C", start=len(stored))
        index_records(services, "child", info.name, info.embedding_dim, new)
        services.match_records([rid for rid, _, _ in new])  # in chunks of 7
        stored += new
    vectors = {rid: v for rid, _, v in stored}
    assert stored_lists(services, "child") == brute_force(vectors, 8)
    means, rank_means = stored_means(services, "child")
    expect5, expect8 = brute_means(vectors, 5), brute_means(vectors, 8)
    assert all(abs(means[r] - expect5[r]) < 1e-5 and abs(rank_means[r] - expect8[r]) < 1e-5 for r in vectors)

    victim = max(vectors, key=lambda r: sum(r in lst for lst in brute_force(vectors, 8).values()))
    services.records.erase(Principal(0, "admin", "admin", 0), victim)
    after = stored_lists(services, "child")
    assert victim not in after and all(victim not in lst for lst in after.values())

    services.review.refresh_cohorts()
    del vectors[victim]
    assert stored_lists(services, "child") == brute_force(vectors, 8)
