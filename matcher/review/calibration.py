"""Calibration: record-pair score -> estimated false-match rate (pure).

The impostor distribution is measured on the gallery itself: fused scores of pairs of
*different* records (both sides pooled), per model pack. ``fmr(score)`` is "the share of
unrelated record pairs that score at least this high":

* empirical where at least ``MIN_TAIL`` impostor pairs lie above the score;
* beyond that, a Gumbel (maximum-type) tail fitted to the impostor scores by moments and
  anchored to the last empirical point, so the curve stays continuous and monotone.
  Record scores are maxima over face pairs, which is what a Gumbel law describes; its
  exponential tail is heavier than a normal one, so extrapolated rates err on the high
  (cautious) side. Leads are gated on the open-set rate N × ``fmr`` (``MATCHER_QUEUE_FPIR``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from matcher.review.fusion import block_max
from matcher.review.normalization import snorm
from matcher.vectors import cosine_matrix

MIN_TAIL = 20
MIN_PAIRS = 100  # below this many unrelated pairs the pack's prior is used instead
EULER = 0.5772156649


@dataclass(frozen=True)
class Calibration:
    pack: str
    n_records: int
    n_pairs: int
    mean: float
    std: float
    sorted_scores: tuple[float, ...]  # ascending sample of impostor scores (at most 20k kept)
    source: str = "gallery"  # "gallery" or "prior" (the pack's, while the gallery is too small)
    normalised: bool = False  # measured on S-normalised scores (review.normalization)

    @cached_property
    def _scores(self) -> np.ndarray:  # the tuple as an array, built once (fmr is called per pair)
        return np.asarray(self.sorted_scores, dtype=np.float64)

    @property
    def gumbel(self) -> tuple[float, float]:
        beta = max(self.std, 1e-3) * math.sqrt(6) / math.pi
        return self.mean - EULER * beta, beta

    def _gumbel_tail(self, score: float) -> float:
        mu, beta = self.gumbel
        return -math.expm1(-math.exp(-(score - mu) / beta))

    def fmr(self, score: float) -> float:
        """Monotone in ``score``: the empirical rate while at least ``MIN_TAIL`` impostor
        pairs lie above it; beyond, the Gumbel tail anchored to the last empirical point
        (so the curve is continuous there), never below what the sample itself shows."""
        scores = self._scores
        n = scores.size
        above = n - int(np.searchsorted(scores, score, side="left"))
        if above >= MIN_TAIL:
            return above / n
        if n >= MIN_TAIL:
            anchor = float(scores[n - MIN_TAIL])
            base = self._gumbel_tail(anchor)
            tail = (MIN_TAIL / n) * (self._gumbel_tail(score) / base if base > 0 else 0.0)
        else:
            tail = self._gumbel_tail(score)
        if above:  # never claim a rate below what the sample itself shows
            tail = max(tail, above / n)
        return float(min(1.0, max(tail, 1e-12)))

    def threshold(self, fmr: float) -> float:
        """Smallest score whose estimated false-match rate is at most ``fmr``."""
        lo, hi = (-50.0, 50.0) if self.normalised else (-1.0, 2.0)  # z-like scores vs cosines
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.fmr(mid) > fmr:
                lo = mid
            else:
                hi = mid
        return hi

    def as_dict(self) -> dict:
        return {
            "pack": self.pack,
            "n_records": self.n_records,
            "n_pairs": self.n_pairs,
            "mean": self.mean,
            "std": self.std,
            "sorted_scores": list(self.sorted_scores),
            "source": self.source,
            "normalised": self.normalised,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(
            d["pack"],
            d["n_records"],
            d["n_pairs"],
            d["mean"],
            d["std"],
            tuple(d["sorted_scores"]),
            d.get("source", "gallery"),
            bool(d.get("normalised", False)),
        )

    def or_prior(self, mean: float, std: float) -> Calibration:
        """This calibration, or — when the gallery has too few unrelated pairs to say
        anything — a Gumbel tail from the pack's measured prior, labelled as such."""
        if self.n_pairs >= MIN_PAIRS:
            return self
        return Calibration(self.pack, self.n_records, self.n_pairs, mean, std, (), "prior", False)


def in_words(fmr: float) -> str:
    if fmr <= 0:
        return "never seen among unrelated pairs"
    n = 1 / fmr
    if n < 10:
        return f"about 1 in {n:.1f} unrelated pairs score this high"
    return f"about 1 in {int(round(n, -math.floor(math.log10(n)) + 1)):,} unrelated pairs score this high"


def calibrate(
    pack: str,
    sides: list[tuple[np.ndarray, np.ndarray]],
    max_records: int = 3000,
    keep: int = 20_000,
    seed: int = 0,
    cohorts: dict[int, tuple[float, float]] | None = None,
) -> Calibration:
    """Impostor record-pair scores (best-pair fusion) from template embeddings grouped by record.

    ``sides``: one (embeddings, record id per face) per side. Pairs are taken *within* a
    side only: a report and a child may be the same person (that is what we look for),
    while two children in care, or two reports, are different people bar rare duplicates.
    ``cohorts`` (record id -> cohort mean and spread against its own side): the impostor
    scores are S-normalised first, so the calibration describes the score that is ranked.
    """
    values = np.concatenate([_impostors(e, r, max_records, seed, cohorts) for e, r in sides] or [np.zeros(0)])
    n_records = sum(int(np.unique(r).size) for _, r in sides)
    if values.size == 0:
        return Calibration(pack, n_records, 0, 0.0, 0.1, (), normalised=cohorts is not None)
    values = np.sort(values)
    sample = values if values.size <= keep else values[np.linspace(0, values.size - 1, keep).astype(int)]
    return Calibration(
        pack, n_records, int(values.size), float(values.mean()), float(values.std()), tuple(float(v) for v in sample), normalised=cohorts is not None
    )


def _impostors(
    embeddings: np.ndarray, record_of_face: np.ndarray, max_records: int, seed: int, cohorts: dict[int, tuple[float, float]] | None = None
) -> np.ndarray:
    order = np.argsort(record_of_face, kind="stable")
    e, groups = embeddings[order], record_of_face[order]
    records, starts = np.unique(groups, return_index=True)
    if records.size > max_records:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(records.size, max_records, replace=False))
        mask = np.isin(groups, records[chosen])
        e, groups = e[mask], groups[mask]
        records, starts = np.unique(groups, return_index=True)
    if records.size < 2:
        return np.zeros(0)
    scores = block_max(cosine_matrix(e, e), starts, starts)
    if cohorts is not None:
        prior = (float(np.median([m for m, _ in cohorts.values()])), float(np.median([s for _, s in cohorts.values()]))) if cohorts else (0.0, 1.0)
        stats = np.array([cohorts.get(int(r), prior) for r in records], np.float64)
        m, sd = stats[:, 0], stats[:, 1]
        scores = snorm(scores, m[:, None], sd[:, None], m[None, :], sd[None, :])
    return scores[np.triu_indices(records.size, k=1)].astype(np.float64)
