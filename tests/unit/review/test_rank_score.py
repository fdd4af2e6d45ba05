"""The rank score that orders one report's list (``review.normalization.rank_score``): a
planted "hub" child — one whose face scores high against every other child — falls below an
ordinary child with the same raw score under ``centred`` and ``znorm``, stays tied under
``raw``; the cross-report S-norm and the rank score are different numbers."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.review.normalization import RANK_SCORES, CohortSizes, cohorts_of_rows, prior_cohort, rank_score
from matcher.review.ranking import Ranked, effective, queue_key, select, select_key
from matcher.vectors import l2_normalize

DIM = 128
PRIOR = prior_cohort(0.15, 0.1)


def _gallery_with_hub(seed: int = 4) -> tuple[np.ndarray, int, int, np.ndarray]:
    """60 children: child 0 is a hub (close to the common direction every face shares),
    child 1 an ordinary child; a query photo with exactly the same cosine (0.45) to both."""
    rng = np.random.default_rng(seed)
    common = l2_normalize(rng.normal(size=DIM))
    kids = l2_normalize(0.38 * common + l2_normalize(rng.normal(size=(60, DIM))) * 0.92)
    kids[0] = l2_normalize(0.9 * common + 0.43 * l2_normalize(rng.normal(size=DIM)))  # the hub
    a, b = kids[0].astype(np.float64), kids[1].astype(np.float64)
    middle = l2_normalize(a + b)  # equally far from both
    other = rng.normal(size=DIM)
    basis = np.linalg.qr(np.stack([a, b]).T)[0]  # remove the part in the plane of the two children
    other = l2_normalize(other - basis @ (basis.T @ other))
    t = 0.45 / float(middle @ a)
    query = t * middle + np.sqrt(1 - t * t) * other
    return kids.astype(np.float32), 0, 1, query.astype(np.float32)


def _cohorts(kids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = (kids @ kids.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    means, stds, _ = cohorts_of_rows(sims, k, PRIOR)
    return means, stds


def test_planted_hub_has_the_higher_cohort_mean():
    kids, hub, plain, _ = _gallery_with_hub()
    means, _ = _cohorts(kids, 50)
    assert means[hub] > means[plain] + 0.1  # it really scores higher against everyone
    assert means[hub] == means.max()


@pytest.mark.parametrize("method", ["centred", "znorm"])
def test_hub_child_falls_below_plain_child_with_the_same_raw_score(method):
    kids, hub, plain, query = _gallery_with_hub()
    raw = kids @ query
    assert abs(raw[hub] - raw[plain]) < 1e-5 and abs(raw[hub] - 0.45) < 1e-4  # the same raw score
    means, stds = _cohorts(kids, 50)
    qm, qs = 0.2, 0.1  # the report's own cohort: the same for both children
    scores = {i: float(rank_score(method, float(raw[i]), qm, qs, means[i], stds[i], means[i], stds[i])) for i in (hub, plain)}
    assert scores[hub] < scores[plain]
    order = select([Ranked(i, scores[i]) for i in (hub, plain)], 2)
    assert [r.record_id for r in order] == [plain, hub]


def test_raw_rank_score_ignores_cohorts_and_snorm_is_the_symmetric_score():
    assert rank_score("raw", 0.4, 0.1, 0.1, 0.3, 0.05, 0.3, 0.05) == 0.4
    z = rank_score("snorm", 0.4, 0.1, 0.1, 0.3, 0.05, 0.25, 0.07)
    assert z == pytest.approx(0.5 * (0.4 - 0.1) / 0.1 + 0.5 * (0.4 - 0.3) / 0.05)
    assert rank_score("centred", 0.4, 0.1, 0.1, 0.3, 0.05, 0.25, 0.07) == pytest.approx(0.15)
    assert rank_score("znorm", 0.4, 0.1, 0.1, 0.3, 0.05, 0.25, 0.07) == pytest.approx(0.15 / 0.07)
    with pytest.raises(ValueError, match="unknown rank score"):
        rank_score("cosine", 0.4, 0, 1, 0, 1, 0, 1)


def test_rank_score_broadcasts_over_matrices_like_the_scalar_form():
    rng = np.random.default_rng(0)
    raw = rng.uniform(-0.2, 0.9, size=(4, 6))
    qm, qs = rng.uniform(0.1, 0.3, 4), rng.uniform(0.05, 0.1, 4)
    gm, gs = rng.uniform(0.1, 0.3, 6), rng.uniform(0.05, 0.1, 6)
    for method in RANK_SCORES:
        mat = rank_score(method, raw, qm[:, None], qs[:, None], gm[None, :], gs[None, :], gm[None, :], gs[None, :])
        one = rank_score(method, float(raw[2, 3]), qm[2], qs[2], gm[3], gs[3], gm[3], gs[3])
        assert float(np.asarray(mat)[2, 3]) == pytest.approx(float(one))


def test_cohort_sizes_store_the_larger_list():
    assert CohortSizes(20, 50).stored == 50 and CohortSizes(30, 10).stored == 30


def test_effective_orders_like_the_selection_key():
    items = [Ranked(1, 0.30, False), Ranked(2, -0.05, True), Ranked(3, 0.10, None), Ranked(4, 5.0, False), Ranked(5, 0.10, True)]
    by_key = [r.record_id for r in sorted(items, key=select_key)]
    by_effective = [r.record_id for r in sorted(items, key=lambda r: (-effective(r), r.record_id))]
    assert by_key == by_effective == [3, 5, 2, 4, 1]
    assert effective(Ranked(1, 0.3, False), use_age=False) == 0.3


def test_queue_key_across_reports_ignores_nothing_it_documents():
    a = queue_key(True, "same", 1e-4, 3.0, "match", 1)
    assert a < queue_key(True, "different", 1e-5, 9.0, "match", 2)  # the name before the rate
    assert a < queue_key(False, "same", 1e-9, 9.0, "match", 3)  # plausibility before all
    assert queue_key(None, None, 1e-4, 3.0, "sighting", 4) < queue_key(None, None, 2e-4, 9.0, "match", 5)  # a lower rate first
    assert queue_key(None, None, None, 3.0, "match", 6) > queue_key(None, None, 0.5, 3.0, "match", 7)  # no rate: last
