"""Score normalisation (adaptive S-norm) against an independent numpy computation, with a
planted hub; cohort bookkeeping (incremental merge, vectorised top-K) against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.review.cohorts import merge_top
from matcher.review.normalization import MIN_COHORT, STD_FLOOR, Cohort, cohort_of, cohorts_of_rows, prior_cohort, record_scores, snorm
from matcher.review.upkeep import top_records

PRIOR = prior_cohort(0.1, 0.1)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def independent_cohort(row: np.ndarray, k: int) -> tuple[float, float]:
    top = sorted((float(v) for v in row if np.isfinite(v)), reverse=True)[:k]
    mean = sum(top) / len(top)
    std = (sum((v - mean) ** 2 for v in top) / len(top)) ** 0.5
    return mean, max(std, STD_FLOOR)


def test_cohorts_of_rows_equals_independent_top_k_mean_and_spread():
    rng = np.random.default_rng(1)
    scores = rng.normal(0.1, 0.1, (30, 40))
    scores[np.arange(30), np.arange(30)] = -np.inf  # the record itself does not count
    means, stds, counts = cohorts_of_rows(scores, 7, PRIOR)
    for i in range(30):
        m, s = independent_cohort(scores[i], 7)
        assert means[i] == pytest.approx(m, abs=1e-12)
        assert stds[i] == pytest.approx(s, abs=1e-12)
        assert counts[i] == 7
        one = cohort_of(scores[i], 7, PRIOR)
        assert (one.mean, one.std) == pytest.approx((m, s), abs=1e-12)


def test_small_cohorts_fall_back_to_the_pack_prior():
    row = np.array([0.5, 0.4] + [-np.inf] * 10)
    assert MIN_COHORT > 2
    assert cohort_of(row, 20, PRIOR) == PRIOR
    means, stds, counts = cohorts_of_rows(row[None, :], 20, PRIOR)
    assert (means[0], stds[0], counts[0]) == (PRIOR.mean, PRIOR.std, 0)


def test_snorm_is_the_mean_of_both_z_scores():
    raw = np.array([0.3, 0.6])
    out = snorm(raw, 0.2, 0.05, 0.4, 0.1)
    assert out == pytest.approx([0.5 * (0.3 - 0.2) / 0.05 + 0.5 * (0.3 - 0.4) / 0.1, 0.5 * (0.6 - 0.2) / 0.05 + 0.5 * (0.6 - 0.4) / 0.1])


def test_planted_hub_is_demoted_and_true_match_promoted():
    """A hub record lies near the centre of the face cloud and scores high against every
    query; raw cosine ranks it first for most queries, S-norm ranks the true record first."""
    rng = np.random.default_rng(7)
    dim, n = 128, 300
    centre = unit(rng.normal(size=dim))
    gallery = unit(0.6 * centre + rng.normal(size=(n, dim)) / np.sqrt(dim))
    gallery[0] = unit(centre + 0.3 * rng.normal(size=dim) / np.sqrt(dim))  # the hub
    truth = np.arange(1, 41)
    # second photos years later: noisy, and drifted towards the "average face"
    probes = unit(gallery[truth] + 1.6 * rng.normal(size=(40, dim)) / np.sqrt(dim) + 1.0 * centre)
    raw = probes @ gallery.T
    gg = gallery @ gallery.T
    np.fill_diagonal(gg, -np.inf)
    gm, gs, _ = cohorts_of_rows(gg, 20, PRIOR)
    qm, qs, _ = cohorts_of_rows(raw, 20, PRIOR)
    z = snorm(raw, qm[:, None], qs[:, None], gm[None, :], gs[None, :])
    # independent computation of the same normalised matrix
    for i in range(0, 40, 9):
        for j in (0, truth[i], 5):
            mq, sq = independent_cohort(raw[i], 20)
            mg, sg = independent_cohort(gg[j], 20)
            assert z[i, j] == pytest.approx(0.5 * (raw[i, j] - mq) / sq + 0.5 * (raw[i, j] - mg) / sg, abs=1e-5)
    hub_first_raw = int((raw.argmax(axis=1) == 0).sum())
    right_raw = int((raw.argmax(axis=1) == truth).sum())
    right_z = int((z.argmax(axis=1) == truth).sum())
    assert hub_first_raw >= 10, "the planted hub should dominate raw scores"
    assert (z.argmax(axis=1) == 0).sum() < hub_first_raw / 3
    assert right_z > right_raw


def test_record_scores_is_best_face_pair_per_record():
    rng = np.random.default_rng(3)
    sims = rng.normal(size=(5, 7))
    rows, cols = np.array([0, 2]), np.array([0, 3, 4])  # records {0,1},{2,3,4} x {0,1,2},{3},{4,5,6}
    out = record_scores(sims, rows, cols)
    assert out[0, 0] == sims[0:2, 0:3].max() and out[1, 2] == sims[2:5, 4:7].max()


def test_incremental_merge_equals_recompute():
    rng = np.random.default_rng(5)
    scores = {i: float(s) for i, s in enumerate(rng.normal(size=60))}
    k = 10
    top: list = []
    for start in range(0, 60, 7):  # scores arrive in batches
        top = merge_top(top, {i: scores[i] for i in range(start, min(60, start + 7))}, k)
    expect = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    assert [r for r, _ in top] == [r for r, _ in expect]
    dropped = merge_top(top, {}, k, drop={expect[0][0]})
    assert expect[0][0] not in [r for r, _ in dropped] and len(dropped) == k - 1


def test_top_records_equals_brute_force():
    rng = np.random.default_rng(11)
    q_owner = np.array([1, 1, 2, 3])
    hit_owner = rng.integers(1, 9, size=(4, 12))
    scores = rng.normal(size=(4, 12)).astype(np.float32)
    out = top_records(q_owner, hit_owner, scores, 3)
    for rec in (1, 2, 3):
        best: dict[int, float] = {}
        for row in np.flatnonzero(q_owner == rec):
            for g, s in zip(hit_owner[row], scores[row], strict=True):
                if g != rec:
                    best[int(g)] = max(best.get(int(g), -np.inf), float(s))
        expect = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        assert [r for r, _ in out[rec]] == [r for r, _ in expect]
        assert [s for _, s in out[rec]] == pytest.approx([s for _, s in expect], abs=1e-6)


def test_cohort_dataclass_round_trip():
    assert Cohort(0.2, 0.05, 20).as_dict() == {"mean": 0.2, "std": 0.05, "n": 20}
