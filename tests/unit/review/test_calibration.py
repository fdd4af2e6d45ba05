"""Calibration maths: monotone, continuous where the fitted tail takes over, cautious."""

from __future__ import annotations

import numpy as np

from matcher.review.calibration import MIN_TAIL, calibrate, in_words


def _calibration(seed: int = 0, records: int = 120):
    rng = np.random.default_rng(seed)
    faces = rng.normal(size=(records * 2, 128)).astype(np.float32)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    owners = np.repeat(np.arange(records), 2)
    return calibrate("test", [(faces[:records], owners[:records]), (faces[records:], owners[records:])])


def test_false_match_rate_never_rises_with_the_score():
    cal = _calibration()
    grid = np.linspace(-0.2, 1.0, 601)
    rates = np.array([cal.fmr(s) for s in grid])
    assert np.all(np.diff(rates) <= 1e-15)
    assert rates[0] == 1.0 and rates[-1] < 1e-3


def test_tail_joins_the_empirical_rate_without_a_jump():
    cal = _calibration(1)
    scores = np.asarray(cal.sorted_scores)
    anchor = scores[len(scores) - MIN_TAIL]
    below, above = cal.fmr(anchor - 1e-9), cal.fmr(anchor + 1e-9)
    assert abs(below - above) / below < 0.1


def test_rate_is_never_below_what_the_sample_shows():
    cal = _calibration(2)
    scores = np.asarray(cal.sorted_scores)
    for k in range(1, MIN_TAIL):
        s = scores[len(scores) - k]
        assert cal.fmr(s) >= k / len(scores)


def test_threshold_inverts_the_rate():
    cal = _calibration(3)
    t = cal.threshold(0.01)
    assert cal.fmr(t) <= 0.01 < cal.fmr(t - 0.01)
    assert in_words(0.001) == "about 1 in 1,000 unrelated pairs score this high"


def test_small_gallery_uses_the_packs_prior_and_says_so():
    rng = np.random.default_rng(4)
    faces = rng.normal(size=(6, 128)).astype(np.float32)
    faces /= np.linalg.norm(faces, axis=1, keepdims=True)
    small = calibrate("test", [(faces, np.arange(6))])
    assert small.n_pairs == 15
    used = small.or_prior(0.147, 0.098)
    assert used.source == "prior" and used.mean == 0.147
    assert 0.0 < used.fmr(0.5) < used.fmr(0.3) < 1.0
    big = _calibration()
    assert big.or_prior(0.147, 0.098) is big
