"""Fusion: all face pairs of two records -> one record-pair score (pure).

Rules (``Settings.fusion``):

* ``best`` — the best face pair. Never penalises a record for having more photos.
* ``support`` — the best pair, raised a little when other *independent* face pairs (no
  face used twice) also clear the same-person hint: ``best + 0.1 * sum(max(0, s_i - t))``
  over the next distinct pairs, capped at +0.1. Only ever raises a score.

Evaluated on the shared labelled photos by ``tests/integration/test_review.py`` (both rules on the same
gallery); the default is the better one there (see README "Measured").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUPPORT_WEIGHT = 0.1
SUPPORT_CAP = 0.1


@dataclass(frozen=True)
class Fused:
    score: float
    best: tuple[int, int]  # (row, column) of the best pair in the similarity matrix
    pairs: tuple[tuple[int, int, float], ...]  # distinct pairs, best first


def distinct_pairs(sims: np.ndarray) -> list[tuple[int, int, float]]:
    """Greedy one-to-one pairing, highest similarity first."""
    s = np.array(sims, dtype=np.float64, copy=True)
    out = []
    for _ in range(min(s.shape)):
        i, j = np.unravel_index(int(np.argmax(s)), s.shape)
        out.append((int(i), int(j), float(s[i, j])))
        s[i, :] = -np.inf
        s[:, j] = -np.inf
    return out


def fuse(sims: np.ndarray, rule: str = "best", support_threshold: float = 0.363) -> Fused:
    """``sims``: (faces of record A) x (faces of record B) cosine similarities."""
    if sims.size == 0:
        raise ValueError("no face pairs to fuse")
    pairs = distinct_pairs(sims)
    best = pairs[0][2]
    score = best
    if rule == "support":
        bonus = sum(max(0.0, s - support_threshold) for _, _, s in pairs[1:]) * SUPPORT_WEIGHT
        score = best + min(SUPPORT_CAP, bonus)
    elif rule != "best":
        raise ValueError(f"unknown fusion rule {rule!r}")
    return Fused(float(score), (pairs[0][0], pairs[0][1]), tuple(pairs))


def block_max(sims: np.ndarray, row_groups: np.ndarray, col_groups: np.ndarray) -> np.ndarray:
    """Best-pair fusion for many records at once: rows/cols sorted by group, group start offsets."""
    rows = np.maximum.reduceat(sims, row_groups, axis=0)
    return np.maximum.reduceat(rows, col_groups, axis=1)
