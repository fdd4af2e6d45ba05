"""The accuracy levers as ``matcher eval`` applies them: the same pure functions that search,
matching and the queue use (``review.normalization``, ``review.age``, ``review.ranking``),
applied to a probes × identities score matrix.

Two matrices come out, as in the service: the **cross score** (raw cosine, or the symmetric
S-norm with ``score_norm="snorm"``) that thresholds rest on (DIR@FPIR, TAR@FAR), and the
**rank score** (``rank_score``: centred, znorm, snorm or raw) that orders each probe's list
(CMC). A variant is a ``Levers`` value; ``variants`` is what ``matcher eval --compare`` runs:
the raw model, each lever alone, all of them together, and all of them under each rank score.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from matcher.review.age import check
from matcher.review.evidence import age_facts
from matcher.review.normalization import RANK_SCORES, CohortSizes, cohorts_of_rows, prior_cohort, rank_score, record_scores

IMPLAUSIBLE_PENALTY = 1000.0  # ranks every implausible pair below every plausible one


@dataclass(frozen=True)
class Levers:
    mirror_tta: bool = False
    score_norm: str = "none"  # none | snorm: the cross score
    norm_top_k: int = 20
    age_ranking: bool = False
    rank_score: str | None = None  # centred | znorm | snorm | raw; None: the cross score orders too
    rank_cohort_k: int = 50

    @property
    def name(self) -> str:
        parts = [p for p, on in (("mirror", self.mirror_tta), ("snorm", self.score_norm == "snorm"), ("age", self.age_ranking)) if on]
        name = " + ".join(parts) if parts else "raw model"
        return f"{name}; rank: {self.rank_score}" if self.rank_score else name

    @property
    def rank_method(self) -> str:
        return self.rank_score or ("snorm" if self.score_norm == "snorm" else "raw")

    @classmethod
    def from_settings(cls, s) -> Levers:
        return cls(s.mirror_tta, s.score_norm, s.norm_top_k, s.age_ranking, str(s.rank_score), s.rank_cohort_k)


def variants(k: int = 20, rank_k: int = 50) -> list[Levers]:
    every = {"mirror_tta": True, "score_norm": "snorm", "norm_top_k": k, "age_ranking": True, "rank_cohort_k": rank_k}
    return [
        Levers(norm_top_k=k),
        Levers(mirror_tta=True, norm_top_k=k),
        Levers(score_norm="snorm", norm_top_k=k),
        Levers(age_ranking=True, norm_top_k=k),
        Levers(mirror_tta=True, score_norm="snorm", norm_top_k=k, age_ranking=True),
        *(Levers(**every, rank_score=method) for method in RANK_SCORES),
    ]


def gallery_cohorts(
    gallery_vectors: np.ndarray, gallery_groups: np.ndarray, k: int, prior: tuple[float, float], block: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """(means, stds) of each identity's ``k`` best scores against the other identities (best
    face pair), computed a block of identities at a time so that galleries with tens of
    thousands of identities fit in memory."""
    p = prior_cohort(*prior)
    n = len(gallery_groups)
    ends = np.r_[gallery_groups[1:], len(gallery_vectors)]
    means, stds = np.zeros(n), np.zeros(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = slice(int(gallery_groups[start]), int(ends[stop - 1]))
        sims = gallery_vectors[rows] @ gallery_vectors.T
        gg = record_scores(sims, gallery_groups[start:stop] - gallery_groups[start], gallery_groups).astype(np.float64)
        gg[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # itself
        means[start:stop], stds[start:stop], _ = cohorts_of_rows(gg, k, p)
    return means, stds


def normalise(scores: np.ndarray, gallery_vectors: np.ndarray, gallery_groups: np.ndarray, k: int, prior: tuple[float, float]) -> np.ndarray:
    """S-norm of a probes × identities matrix: each identity's cohort is its K best other
    identities, each probe's its K best identities (``-inf`` entries stay ``-inf``)."""
    return rank_matrix("snorm", scores, gallery_vectors, gallery_groups, CohortSizes(k, k), prior)


def rank_matrix(
    method: str, scores: np.ndarray, gallery_vectors: np.ndarray, gallery_groups: np.ndarray, sizes: CohortSizes, prior: tuple[float, float]
) -> np.ndarray:
    """The rank score (``review.normalization.rank_score``) of a probes × identities matrix of
    raw scores; ``-inf`` entries stay ``-inf``."""
    if method == "raw":
        return scores
    p = prior_cohort(*prior)
    gm, gs = gallery_cohorts(gallery_vectors, gallery_groups, sizes.k, prior)
    rm, rs = gallery_cohorts(gallery_vectors, gallery_groups, sizes.rank_k, prior) if sizes.rank_k != sizes.k else (gm, gs)
    qm, qs, _ = cohorts_of_rows(scores, sizes.k, p)
    with np.errstate(invalid="ignore"):
        z = rank_score(method, scores, qm[:, None], qs[:, None], gm[None, :], gs[None, :], rm[None, :], rs[None, :])
    return np.where(np.isfinite(scores), z, -np.inf)


def plausibility(probes, gallery, identities: list[str]) -> np.ndarray:
    """probes × identities: False where ``review.age.check`` calls the pair implausible.
    Uses the optional CSV columns ``birth_year``, ``sex``, ``age`` (age at the photo) and
    ``date``; with none of them every pair is plausible (missing facts exclude nobody)."""
    facts: dict[str, SimpleNamespace] = {}
    for g in gallery:
        f = facts.setdefault(g.identity, SimpleNamespace(side="child", birth_year=None, birth_date=None, event_on=None, sex=None))
        f.birth_year = f.birth_year or g.birth_year
        f.sex = f.sex or g.sex
    out = np.ones((len(probes), len(identities)), bool)
    for i, p in enumerate(probes):
        rep = SimpleNamespace(side="report", birth_year=p.birth_year, birth_date=None, event_on=None, sex=p.sex)
        for j, ident in enumerate(identities):
            c = facts.get(ident)
            if c is None:
                continue
            verdict = check(age_facts(rep, c, _date(p.date), None, p.age, None)).plausible
            out[i, j] = verdict is not False
    return out


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None


def ranked(scores: np.ndarray, plausible: np.ndarray | None) -> np.ndarray:
    """Scores whose order is the ranking: implausible pairs below every plausible one."""
    if plausible is None:
        return scores
    return np.where(plausible, scores, scores - IMPLAUSIBLE_PENALTY)
