"""Every open report's list is the top N under the current cohorts, however the gallery grew.

Synthetic children (the default pack's impostor distribution, a few planted hubs) arrive in
waves against reports that are look-alikes of some of them. After every matching run each
report's open list must equal a brute-force recomputation: raw best-pair cosine minus the
child's mean of its K best scores against all the other children *now* (``centred``), top N.
A new wave raises older children's cohort means, so lists built earlier must be re-ranked
(``Matcher.relist``) and, where a child the list never kept now ranks inside, searched again.
The final lists must not depend on the order in which the records arrived."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from matcher.container import Services
from matcher.evaluation.synthetic import impostor_vectors, index_records, mate_of, store_records
from matcher.store.tables import Candidate, Media, Record
from matcher.vectors import l2_normalize
from tests.conftest import make_settings

N, K_NORM, K_RANK = 8, 5, 12
SETTINGS = {"shortlist": N, "norm_top_k": K_NORM, "rank_cohort_k": K_RANK, "match_neighbours": 500, "match_chunk": 16}


def _world(dim: int, prior: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    kids = impostor_vectors(200, dim, *prior, seed=5)
    hubs = rng.choice(200, 12, replace=False)
    centre = l2_normalize(kids.mean(axis=0))
    kids[hubs] = l2_normalize(kids[hubs] + 0.8 * centre)  # faces that score high against everyone
    mates = rng.choice(200, 30, replace=False)
    reports = mate_of(kids[mates], 0.45, seed=8)
    return kids.astype(np.float32), reports.astype(np.float32)


def _brute_force(kids: dict[str, np.ndarray], reports: dict[str, np.ndarray], closed: frozenset[str] = frozenset()) -> dict[str, list[tuple[str, float]]]:
    """Each report's top N open children by raw cosine minus the child's mean of its K_RANK
    best scores against all the other children present (closed ones count in cohorts)."""
    names = sorted(kids)
    c = np.stack([kids[n] for n in names]).astype(np.float64)
    cc = c @ c.T
    np.fill_diagonal(cc, -np.inf)
    mu = np.sort(cc, axis=1)[:, ::-1][:, :K_RANK].mean(axis=1)
    out = {}
    for r, v in reports.items():
        rank = c @ v.astype(np.float64) - mu
        order = sorted((j for j in range(len(names)) if names[j] not in closed), key=lambda j: -rank[j])[:N]
        out[r] = [(names[j], float(rank[j])) for j in order]
    return out


def _lists(services: Services) -> dict[str, list[tuple[str, float]]]:
    with services.sessions() as session:
        numbers = dict(session.execute(select(Record.id, Record.external_id)).all())
        rows = session.execute(
            select(Candidate.report_id, Candidate.child_id, Candidate.rank_score).where(Candidate.kind == "match", Candidate.status == "open")
        ).all()
    out: dict[str, list[tuple[str, float]]] = {}
    for rid, cid, rank in rows:
        out.setdefault(numbers[rid], []).append((numbers[cid], rank))
    return {r: sorted(v, key=lambda t: -t[1]) for r, v in out.items()}


def _same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for r in want:
        assert [c for c, _ in got[r]] == [c for c, _ in want[r]], r
        assert np.allclose([s for _, s in got[r]], [s for _, s in want[r]], atol=1e-5), r


def _add(services: Services, side: str, vectors: np.ndarray, prefix: str, start: int, **fields) -> list[int]:
    info = services.pack_info()
    with services.sessions.begin() as session:
        new = store_records(session, side, vectors, info.name, prefix, start=start, **fields)
    index_records(services, side, info.name, info.embedding_dim, new)
    return [rid for rid, _, _ in new]


@pytest.mark.slow
def test_lists_equal_brute_force_after_every_wave_and_do_not_depend_on_arrival_order(tmp_path, model_cache):
    first = Services(make_settings(tmp_path / "a", **SETTINGS))
    info = first.pack_info()
    kids, reports = _world(info.embedding_dim, info.impostor_prior)
    report_vecs = {f"R{i:06d}": v for i, v in enumerate(reports)}
    first.match_records(_add(first, "report", reports, "R", 0))
    seen: dict[str, np.ndarray] = {}
    for start in range(0, 200, 50):  # four waves of 50 children
        first.match_records(_add(first, "child", kids[start : start + 50], "C", start))
        seen.update({f"C{i:06d}": kids[i] for i in range(start, start + 50)})
        _same(_lists(first), _brute_force(seen, report_vecs))

    # look-alikes of listed children arrive as closed records: they meet no report, but they
    # raise those children's cohort means, so lists built before must re-rank (and refill from
    # children they never kept: searched again)
    listed = sorted({c for members in _lists(first).values() for c, _ in members[:3]})
    twins = mate_of(np.stack([seen[c] for c in listed]), 0.75, seed=13)
    first.match_records(_add(first, "child", twins, "T", 0, status="closed"))
    closed = frozenset(f"T{i:06d}" for i in range(len(twins)))
    seen.update({f"T{i:06d}": v for i, v in enumerate(twins)})
    want = _brute_force(seen, report_vecs, closed)
    assert want != _brute_force({k: v for k, v in seen.items() if k not in closed}, report_vecs)  # the twins do move lists
    _same(_lists(first), want)

    # the same records arriving the other way round: children first (newest first), then reports
    second = Services(make_settings(tmp_path / "b", **SETTINGS))
    second.match_records(_add(second, "child", twins, "T", 0, status="closed"))
    for start in (150, 100, 50, 0):
        second.match_records(_add(second, "child", kids[start : start + 50], "C", start))
    for start in (20, 0, 10):
        second.match_records(_add(second, "report", reports[start : start + 10], "R", start))
    _same(_lists(second), _lists(first))


@pytest.mark.slow
def test_reindex_keeps_lists_exact(tmp_path, model_cache):
    """``matcher reindex`` recomputes every cohort and searches every open report again."""
    services = Services(make_settings(tmp_path / "var", **SETTINGS))
    info = services.pack_info()
    kids, reports = _world(info.embedding_dim, info.impostor_prior)
    services.match_records(_add(services, "child", kids, "C", 0) + _add(services, "report", reports, "R", 0))
    with services.sessions.begin() as session:  # lists as a stale database would hold them
        for c in session.scalars(select(Candidate)):
            c.rank_score = -c.rank_score
    services.review.refresh_cohorts()
    _same(_lists(services), _brute_force({f"C{i:06d}": v for i, v in enumerate(kids)}, {f"R{i:06d}": v for i, v in enumerate(reports)}))


def test_age_given_with_an_undated_family_photo_is_not_dated_by_its_upload(tmp_path, model_cache):
    """A report with no birth year whose only photo (a scan, received today) carries the age
    the child had in it: matching must not take the upload day as the photo's date (that
    would make the child born last year and flag the true pair implausible)."""
    services = Services(make_settings(tmp_path / "var", **SETTINGS))
    info = services.pack_info()
    kids = impostor_vectors(12, info.embedding_dim, *info.impostor_prior, seed=2)
    ids = _add(services, "child", kids, "C", 0, birth_year=2015)
    ids += _add(services, "report", mate_of(kids[:1], 0.6, seed=3), "R", 0)
    with services.sessions.begin() as session:
        media = session.scalars(select(Media).join(Record).where(Record.external_id == "R000000")).one()
        media.age_at_photo = 3.0  # as the family gave it; no EXIF date, no year
    services.match_records(ids)
    with services.sessions() as session:
        cand = session.scalars(select(Candidate).join(Record, Record.id == Candidate.child_id).where(Record.external_id == "C000000")).one()
    assert "birth_year_mismatch" not in cand.evidence["flags"] and cand.plausible is not False
