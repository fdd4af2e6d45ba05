"""The accuracy levers as ``matcher eval`` applies them: the same pure functions that search,
matching and the queue use (``review.normalization``, ``review.age``, ``review.ranking``),
applied to a probes × identities score matrix.

A variant is a ``Levers`` value; ``VARIANTS`` is what ``matcher eval --compare`` runs: the
raw model, each lever alone, and all of them together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from matcher.review.age import check
from matcher.review.evidence import age_facts
from matcher.review.normalization import cohorts_of_rows, prior_cohort, record_scores, snorm

IMPLAUSIBLE_PENALTY = 1000.0  # ranks every implausible pair below every plausible one


@dataclass(frozen=True)
class Levers:
    mirror_tta: bool = False
    score_norm: str = "none"  # none | snorm
    norm_top_k: int = 20
    age_ranking: bool = False

    @property
    def name(self) -> str:
        parts = [p for p, on in (("mirror", self.mirror_tta), ("snorm", self.score_norm == "snorm"), ("age", self.age_ranking)) if on]
        return " + ".join(parts) if parts else "raw model"

    @classmethod
    def from_settings(cls, s) -> Levers:
        return cls(s.mirror_tta, s.score_norm, s.norm_top_k, s.age_ranking)


def variants(k: int = 20) -> list[Levers]:
    return [
        Levers(norm_top_k=k),
        Levers(mirror_tta=True, norm_top_k=k),
        Levers(score_norm="snorm", norm_top_k=k),
        Levers(age_ranking=True, norm_top_k=k),
        Levers(mirror_tta=True, score_norm="snorm", norm_top_k=k, age_ranking=True),
    ]


def normalise(scores: np.ndarray, gallery_vectors: np.ndarray, gallery_groups: np.ndarray, k: int, prior: tuple[float, float]) -> np.ndarray:
    """S-norm of a probes × identities matrix: each identity's cohort is its K best other
    identities, each probe's its K best identities (``-inf`` entries stay ``-inf``)."""
    p = prior_cohort(*prior)
    gg = record_scores(gallery_vectors @ gallery_vectors.T, gallery_groups, gallery_groups).astype(np.float64)
    np.fill_diagonal(gg, -np.inf)
    gm, gs, _ = cohorts_of_rows(gg, k, p)
    qm, qs, _ = cohorts_of_rows(scores, k, p)
    with np.errstate(invalid="ignore"):
        z = snorm(scores, qm[:, None], qs[:, None], gm[None, :], gs[None, :])
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
