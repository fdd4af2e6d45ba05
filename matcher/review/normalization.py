"""Score normalisation: adaptive S-norm of record-pair scores (pure, vectorised).

Why: young faces are "hubs" — some records score high against every query. A raw cosine of
0.45 means little for a record whose ten nearest unrelated records all score 0.45, and a lot
for one whose neighbours score 0.2. Adaptive S-norm rescales a pair's score by how each side
of the pair usually scores against its *cohort*: the mean and spread of its top-K record
scores against the gallery it is compared with.

    z(a, b) = ½ · (s − μ_a) / σ_a + ½ · (s − μ_b) / σ_b

``s`` is the raw record-pair score (best face pair), ``μ``/``σ`` the mean and standard deviation
of a record's ``K`` best scores against the cohort side (itself excluded). Which cohort each
record uses (``matcher.review.cohorts``): for a match (report, child) both terms are taken
against the children's side — the report's K best children and the child's K best other
children — so the score of a pair is the same whichever record was added last; for a
duplicate both records use their own side. A hub has a high μ and is demoted; a record that
is usually far from everyone is promoted when something finally scores high against it.

With fewer than ``MIN_COHORT`` cohort scores the spread is not measurable; the pack's
impostor prior is used instead (``prior_cohort``). ``σ`` is floored at ``STD_FLOOR`` so a
record with K identical scores cannot blow up.

**Two scores, two jobs.** The symmetric S-norm above means the same for every report, so it
is what the cross-report numbers rest on: the calibrated false-match rate, the "strong lead"
badge, the open-set gates for duplicates and sightings, and the flat queue's order. Inside
*one* report's list (or one query's results) the children are ranked by the **rank score**
(``MATCHER_RANK_SCORE``, ``rank_score``):

    centred   s − μ_c              (default)
    znorm     (s − μ_c) / σ_c
    snorm     the symmetric S-norm above
    raw       s

``μ_c``/``σ_c`` are the gallery record's own cohort over its ``MATCHER_RANK_COHORT_K`` best
scores against its own side (a child against the other children). Hubness is a property of
the gallery record: some children's faces score high against everyone, and subtracting the
child's own cohort mean demotes exactly those. Within one report the report's own S-norm term
is the same shift for every child, but it divides the raw cosine by the report's σ, which
gives weight back to the raw score and so to the hubs; dividing by ``σ_c`` then favours
children whose cohort happens to be narrow, which is noise. Centring keeps what helps and
drops both effects (on the product owner's held-out children benchmark: rank-1 55.6 → 62.0 %,
top-20 74.1 → 81.6 % against the symmetric S-norm; docs/accuracy.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_COHORT = 5
STD_FLOOR = 0.02
RANK_SCORES = ("centred", "znorm", "snorm", "raw")  # MATCHER_RANK_SCORE (types.RankScore)


@dataclass(frozen=True)
class CohortSizes:
    """How many best scores each cohort uses: ``k`` for the S-norm (``MATCHER_NORM_TOP_K``),
    ``rank_k`` for the rank score (``MATCHER_RANK_COHORT_K``). A record's stored list holds
    the larger of the two, so both are exact."""

    k: int
    rank_k: int

    @property
    def stored(self) -> int:
        return max(self.k, self.rank_k)

    @classmethod
    def from_settings(cls, settings) -> CohortSizes:
        return cls(settings.norm_top_k, settings.rank_cohort_k)


@dataclass(frozen=True)
class Cohort:
    mean: float
    std: float
    n: int  # how many cohort scores it rests on (0 = the pack's prior)

    def as_dict(self) -> dict:
        return {"mean": round(self.mean, 4), "std": round(self.std, 4), "n": self.n}


def prior_cohort(prior_mean: float, prior_std: float) -> Cohort:
    """The pack's impostor prior, for records whose cohort is too small to measure."""
    return Cohort(float(prior_mean), max(float(prior_std), STD_FLOOR), 0)


def cohort_of(scores: np.ndarray, k: int, prior: Cohort) -> Cohort:
    """Mean and spread of the ``k`` highest of ``scores`` (one record against its cohort,
    itself already excluded); the prior below ``MIN_COHORT`` scores."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = s[np.isfinite(s)]
    if s.size < MIN_COHORT:
        return prior
    top = np.sort(s)[::-1][:k]
    return Cohort(float(top.mean()), max(float(top.std()), STD_FLOOR), int(top.size))


def cohort_of_best(best_first: list[float], k: int, prior: Cohort) -> Cohort:
    """``cohort_of`` for a list already sorted best first (a stored cohort list), in plain
    Python: called for every list a matching run changes, where numpy's per-call overhead on
    a few dozen numbers would dominate."""
    top = best_first[:k]
    n = len(top)
    if n < MIN_COHORT:
        return prior
    mean = math.fsum(top) / n
    var = math.fsum((x - mean) * (x - mean) for x in top) / n
    return Cohort(mean, max(math.sqrt(var), STD_FLOOR), n)


def cohorts_of_rows(scores: np.ndarray, k: int, prior: Cohort) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``cohort_of`` for every row of a (records × cohort) matrix at once; entries that must
    not count (the record itself, records of no interest) are ``-inf``.
    Returns (means, stds, counts)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("scores must be a 2-D matrix")
    rows = s.shape[0]
    if rows == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
    kk = min(k, s.shape[1])
    finite = np.isfinite(s)
    counts = np.minimum(finite.sum(axis=1), k)
    if kk == 0:
        top = np.full((rows, 0), -np.inf)
    else:
        top = -np.sort(-np.where(finite, s, -np.inf), axis=1)[:, :kk]
    valid = np.isfinite(top)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(valid, top, 0.0).sum(axis=1) / np.maximum(n, 1)
        var = np.where(valid, (top - means[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n, 1)
    stds = np.maximum(np.sqrt(var), STD_FLOOR)
    small = n < MIN_COHORT
    means = np.where(small, prior.mean, means)
    stds = np.where(small, prior.std, stds)
    return means, stds, np.where(small, 0, counts).astype(np.int64)


def snorm(raw: np.ndarray | float, mean_a, std_a, mean_b, std_b) -> np.ndarray | float:
    """Adaptive S-norm of raw scores given both records' cohorts (broadcasts)."""
    return 0.5 * (np.asarray(raw) - mean_a) / std_a + 0.5 * (np.asarray(raw) - mean_b) / std_b


def rank_score(method: str, raw, query_mean, query_std, mean, std, rank_mean, rank_std):
    """The score that orders one report's (or one query's) list (broadcasts over arrays).

    ``query_*``: the report's (query's) S-norm cohort; ``mean``/``std``: the gallery record's
    S-norm cohort; ``rank_*``: the gallery record's rank cohort (``CohortSizes.rank_k``)."""
    if method == "centred":
        return raw - rank_mean
    if method == "znorm":
        return (raw - rank_mean) / rank_std
    if method == "snorm":
        return snorm(raw, query_mean, query_std, mean, std)
    if method == "raw":
        return raw
    raise ValueError(f"unknown rank score {method!r}; one of {', '.join(RANK_SCORES)}")


def record_scores(sims: np.ndarray, row_groups: np.ndarray, col_groups: np.ndarray) -> np.ndarray:
    """Face-pair similarities -> record-pair best-pair scores.

    ``sims``: (faces of A) × (faces of B), rows and columns sorted by record;
    ``row_groups``/``col_groups``: the start offset of each record's faces."""
    if sims.size == 0:
        return np.zeros((len(row_groups), len(col_groups)), np.float32)
    rows = np.maximum.reduceat(sims, row_groups, axis=0)
    return np.maximum.reduceat(rows, col_groups, axis=1)
