"""Accuracy metrics for ``matcher eval``: pure functions over score arrays (no models, no files).

Closed-set CMC from a probes x gallery-identities score matrix, verification TAR at FAR from
genuine/impostor scores, open-set DIR at FPIR, age-gap buckets.

Conventions (stated once, used everywhere):

* A score of ``-inf`` means "no comparison possible": a probe with no face (failure to
  enrol) scores ``-inf`` against every identity, so it is a **miss at every rank** and a
  rejected genuine pair; it is never dropped from a denominator. A gallery identity whose
  photos all failed to enrol scores ``-inf`` for every probe.
* Rank of the true identity = 1 + number of *other* identities scoring **at least** as high
  (ties count against the probe: pessimistic, deterministic).
* Thresholds at a target rate ``r`` over ``N`` negative scores: ``floor(r * N)`` false
  accepts are allowed; the threshold is the ``floor(r*N)+1``-th highest negative score and
  a score is accepted when it is **strictly above** it. When ``r * N < 1`` the rate cannot be
  resolved by the data; the figure is then the (stricter) zero-false-accept one and the
  report marks it ``resolved: false``.
* Mated probe = its identity appears in the gallery CSV (even if none of its gallery photos
  had a face). Non-mated probes (identity absent from the gallery) drive FPIR.
"""

from __future__ import annotations

import math

import numpy as np

RANKS = (1, 5, 10, 20, 50)
FARS = (1e-2, 1e-3, 1e-4)
FPIRS = (1e-2, 1e-3)
AGE_BUCKETS = (("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11+", 11, math.inf))


def ranks_of_truth(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank (1-based) of each probe's true column; ``inf`` when unmated or truth is ``-inf``.

    ``scores``: (probes, identities); ``truth``: column index per probe, -1 when not mated.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    out = np.full(truth.shape[0], np.inf)
    for i, t in enumerate(truth):
        if t < 0:
            continue
        s = scores[i, t]
        if not np.isfinite(s):
            continue
        others = np.delete(scores[i], t)
        out[i] = 1 + int(np.count_nonzero(others >= s))
    return out


def cmc(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """CMC curve: share of (mated) probes whose rank <= r, for r = 1..max_rank."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return np.full(max_rank, np.nan)
    return np.array([float(np.mean(ranks <= r)) for r in range(1, max_rank + 1)])


def cmc_at(ranks: np.ndarray, at: tuple[int, ...] = RANKS) -> dict[str, float | None]:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return {f"rank{r}": None for r in at}
    return {f"rank{r}": float(np.mean(ranks <= r)) for r in at}


def threshold_at_rate(negatives: np.ndarray, rate: float) -> tuple[float, bool]:
    """(threshold, resolved): accept scores strictly above it; see module docstring."""
    neg = np.sort(np.asarray(negatives, dtype=np.float64))[::-1]
    if neg.size == 0:
        return -np.inf, False
    allowed = math.floor(rate * neg.size + 1e-9)
    if allowed >= neg.size:
        return -np.inf, True
    return float(neg[allowed]), allowed >= 1


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> dict:
    """Verification: share of genuine scores accepted at the threshold giving ``far``."""
    gen = np.asarray(genuine, dtype=np.float64)
    thr, resolved = threshold_at_rate(impostor, far)
    imp = np.asarray(impostor, dtype=np.float64)
    return {
        "tar": float(np.mean(gen > thr)) if gen.size else None,
        "threshold": None if not np.isfinite(thr) else thr,
        "far_measured": float(np.mean(imp > thr)) if imp.size else None,
        "resolved": resolved,
    }


def dir_at_fpir(ranks: np.ndarray, mated_scores: np.ndarray, nonmated_max: np.ndarray, fpir: float) -> dict:
    """Open set: share of mated probes found at rank 1 **and** above the threshold where
    ``fpir`` of non-mated searches raise an alarm (their best score)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    mated = np.asarray(mated_scores, dtype=np.float64)
    nm = np.asarray(nonmated_max, dtype=np.float64)
    if nm.size == 0:
        return {"dir": None, "threshold": None, "fpir_measured": None, "resolved": False}
    thr, resolved = threshold_at_rate(nm, fpir)
    hit = (ranks <= 1) & (mated > thr)
    return {
        "dir": float(np.mean(hit)) if ranks.size else None,
        "threshold": None if not np.isfinite(thr) else thr,
        "fpir_measured": float(np.mean(nm > thr)),
        "resolved": resolved,
    }


def age_bucket(gap: float | None) -> str | None:
    if gap is None or not np.isfinite(gap):
        return None
    for name, lo, hi in AGE_BUCKETS:
        if lo <= round(gap) <= hi:
            return name
    return None


def genuine_impostor(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Genuine = each mated probe vs its identity; impostor = every probe vs every other
    identity (finite scores only: an identity without faces is no comparison)."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    genuine, impostor = [], []
    for i, t in enumerate(truth):
        if t >= 0:
            genuine.append(scores[i, t])
        row = scores[i] if t < 0 else np.delete(scores[i], t)
        impostor.append(row[np.isfinite(row)])
    imp = np.concatenate(impostor) if impostor else np.zeros(0)
    return np.asarray(genuine, dtype=np.float64), imp


def summarize(
    scores: np.ndarray,
    truth: np.ndarray,
    probe_has_face: np.ndarray,
    gaps: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> dict:
    """All figures from a probes x identities score matrix (``-inf`` = no comparison).

    Rows of probes with no face must already be ``-inf``; ``probe_has_face`` is only counted.
    ``order``: the matrix that orders each probe's list when it is not ``scores`` (a rank
    score): ranks (CMC, and the rank-1 condition of DIR) come from it, thresholds from ``scores``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    mated = truth >= 0
    ranks_all = ranks_of_truth(scores if order is None else np.asarray(order, dtype=np.float64), truth)
    ranks = ranks_all[mated]
    genuine, impostor = genuine_impostor(scores, truth)
    nonmated_max = scores[~mated].max(axis=1) if (~mated).any() and scores.shape[1] else np.full(int((~mated).sum()), -np.inf)
    # Non-mated FTE probes score -inf everywhere: they never raise a false alarm (counted).
    mated_scores = np.array([scores[i, t] for i, t in enumerate(truth) if t >= 0], dtype=np.float64)
    out: dict = {
        "cmc": cmc_at(ranks),
        "dir_at_fpir": {f"{f:g}": dir_at_fpir(ranks, mated_scores, nonmated_max, f) for f in FPIRS},
        "tar_at_far": {f"{f:g}": tar_at_far(genuine, impostor, f) for f in FARS},
        "counts": {
            "probes": int(truth.size),
            "mated_probes": int(mated.sum()),
            "nonmated_probes": int((~mated).sum()),
            "gallery_identities": int(scores.shape[1]),
            "genuine_scores": int(genuine.size),
            "impostor_scores": int(impostor.size),
            "probes_without_face": int((~np.asarray(probe_has_face, dtype=bool)).sum()),
        },
    }
    if gaps is not None:
        gaps = np.asarray(gaps, dtype=np.float64)
        buckets: dict = {}
        for name, _, _ in AGE_BUCKETS:
            sel = np.array([mated[i] and age_bucket(gaps[i]) == name for i in range(truth.size)], dtype=bool)
            if not sel.any():
                continue
            sub_ranks = ranks_all[sel]
            sub_gen = np.array([scores[i, truth[i]] for i in np.flatnonzero(sel)], dtype=np.float64)
            buckets[name] = {
                "probes": int(sel.sum()),
                "cmc": cmc_at(sub_ranks),
                "dir_at_fpir": {f"{f:g}": dir_at_fpir(sub_ranks, sub_gen, nonmated_max, f) for f in FPIRS},
                "tar_at_far": {f"{f:g}": tar_at_far(sub_gen, impostor, f) for f in FARS},
            }
        out["by_age_gap"] = buckets
    out["_curves"] = {"ranks": ranks, "genuine": genuine, "impostor": impostor}
    return out
