"""Search one side's index with query embeddings, ranked by the same rules as matching
(``review.normalization``, ``review.ranking``): a record's raw score is its best face pair. ``SearchService.photo`` is the audited ad-hoc
search with one photo (API ``/v1/search``, ``matcher search``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from matcher.errors import InputError
from matcher.index.faiss_index import FaceIndex
from matcher.review import cohorts as coh
from matcher.review.age import check
from matcher.review.evidence import age_facts, name_level
from matcher.review.normalization import Cohort, CohortSizes, cohort_of, prior_cohort, rank_score, snorm
from matcher.review.ranking import Ranked, shortlist
from matcher.review.templates import load_records
from matcher.store import repo
from matcher.types import RankScore

if TYPE_CHECKING:  # for annotations only: the container imports this module
    from matcher.faces.analyzer import AnalyzedImage


@dataclass(frozen=True)
class QueryFacts:
    """What the person searching knows about the child in the photo (all optional)."""

    name: str | None = None
    birth_year: int | None = None
    sex: str | None = None
    age_at_photo: float | None = None


@dataclass(frozen=True)
class SearchCandidate:
    record_id: str  # the record's own number
    score: float  # comparable across queries: S-normalised with MATCHER_SCORE_NORM=snorm, else the raw cosine
    face_id: int
    media: str  # sha256 of the media holding the matching face
    query_face: int
    raw_score: float = 0.0
    plausible: bool | None = None
    name: str | None = None  # name agreement level, when a name was given
    rank_score: float = 0.0  # what orders this query's results (MATCHER_RANK_SCORE, centred on the record's cohort)
    query_rank_score: float = 0.0  # the same rule seen from the record: centred on the query's cohort (one record's sightings)

    def as_dict(self) -> dict:
        out = {
            "record_id": self.record_id,
            "rank_score": round(self.rank_score, 4),
            "score": round(self.score, 4),
            "raw_score": round(self.raw_score, 4),
            "face_id": self.face_id,
            "media": self.media,
            "query_face": self.query_face,
            "plausible": self.plausible,
        }
        if self.name is not None:
            out["name"] = self.name
        return out


def search_records(
    session: Session, index: FaceIndex, queries: np.ndarray, top_k: int, ranking: Ranking | None = None, facts: QueryFacts | None = None, side: str = "child"
) -> list[SearchCandidate]:
    """Records of one side ranked for a query photo with the same rules as a report's list:
    best face per record, plausibility first (when ``facts`` say something), then the rank
    score (``MATCHER_RANK_SCORE``: centred on each record's stored cohort by default), then
    the name inside the list. ``score`` stays the S-norm (query cohort: its K best records
    here; record cohort: stored), comparable across queries."""
    if len(index) == 0 or len(queries) == 0:
        return []
    ranking = ranking or Ranking()
    # several faces per record: fetch enough neighbours that top_k distinct records survive
    k = min(len(index), max(top_k * 10, ranking.neighbours))
    hits = index.search(queries, k)
    meta = repo.face_hits(session, (fid for row in hits for fid, _ in row))
    best: dict[int, tuple[float, int, int]] = {}
    for query_face, row in enumerate(hits):
        for face_id, score in row:
            info = meta.get(face_id)
            if info is None:  # face erased since the index was read
                continue
            if info.record_id not in best or score > best[info.record_id][0]:
                best[info.record_id] = (float(score), face_id, query_face)
    if not best:
        return []
    raw = {rid: v[0] for rid, v in best.items()}
    scores = np.array(list(raw.values()))
    query = cohort_of(scores, ranking.sizes.k, ranking.prior)
    query_rank = cohort_of(scores, ranking.sizes.rank_k, ranking.prior)
    table = coh.CohortTable(session, ranking.pack, side, ranking.sizes, ranking.prior)  # stored, read only
    table.ensure(raw)
    z, rank, back = dict(raw), {}, {}
    for rid, s in raw.items():
        g, gr = table.cohort(rid), table.rank_cohort(rid)
        if ranking.norm:
            z[rid] = float(snorm(s, query.mean, query.std, g.mean, g.std))
        rank[rid] = float(rank_score(ranking.rank, s, query.mean, query.std, g.mean, g.std, gr.mean, gr.std))
        back[rid] = float(rank_score(ranking.rank, s, g.mean, g.std, query.mean, query.std, query_rank.mean, query_rank.std))
    plausible: dict[int, bool | None] = {}
    names: dict[int, str | None] = {}
    if facts is not None and (ranking.use_age or ranking.use_name):
        records = load_records(session, raw)
        me = SimpleNamespace(side="other", birth_year=facts.birth_year, birth_date=None, event_on=None, sex=facts.sex, name=facts.name)
        for rid, rec in records.items():
            if ranking.use_age:
                pair = (me, rec) if rec.side == "child" else (rec, me)
                ages = (facts.age_at_photo, None) if rec.side == "child" else (None, facts.age_at_photo)
                plausible[rid] = check(age_facts(*pair, None, None, *ages)).plausible
            if ranking.use_name and facts.name:
                names[rid] = name_level(facts.name, rec.name)
    pool = [Ranked(rid, rank[rid], plausible.get(rid), names.get(rid)) for rid in raw]
    out = []
    for r in shortlist(pool, top_k, ranking.use_age, ranking.use_name):
        score, face_id, query_face = best[r.record_id]
        info = meta[face_id]
        out.append(
            SearchCandidate(info.external_id, z[r.record_id], face_id, info.media_sha256, query_face, score, r.plausible, r.name, r.score, back[r.record_id])
        )
    return out


@dataclass(frozen=True)
class Ranking:
    """The levers as search uses them (from Settings and the pack)."""

    pack: str = ""
    norm: bool = False
    sizes: CohortSizes = field(default_factory=lambda: CohortSizes(20, 50))
    prior: Cohort = field(default_factory=lambda: Cohort(0.15, 0.1, 0))
    use_age: bool = True
    use_name: bool = True
    neighbours: int = 100
    rank: str = RankScore.CENTRED

    @classmethod
    def from_settings(cls, settings, info) -> Ranking:
        return cls(
            info.name,
            settings.score_norm == "snorm",
            CohortSizes.from_settings(settings),
            prior_cohort(*info.impostor_prior),
            settings.age_ranking,
            settings.name_ranking,
            settings.match_neighbours,
            str(settings.rank_score),
        )


class SearchService:
    def __init__(self, services) -> None:
        self.services = services

    def photo(
        self, data: bytes, side: str, top_k: int, actor: str, role: str, pack: str | None = None, request_id: str | None = None, facts: QueryFacts | None = None
    ) -> tuple[AnalyzedImage, list[SearchCandidate]]:
        """Faces of one photo searched against one side; audited (invariant 4). Names and
        facts given with the search are not written to the audit log (only that they were given)."""
        if top_k < 1 or top_k > 1000:
            raise InputError("top must be between 1 and 1000")
        svc = self.services
        analyzed = svc.analyze_bytes(data, pack)
        queries = np.stack([f.embedding for f in analyzed.faces]) if analyzed.faces else np.zeros((0, 1), np.float32)
        index = svc.index(side, pack)
        ranking = Ranking.from_settings(svc.settings, svc.pack_info(pack))
        with svc.sessions.begin() as session:
            candidates = search_records(session, index, queries, top_k, ranking, facts, side)
            repo.audit(
                session,
                actor,
                role,
                "search",
                "side",
                side,
                request_id,
                faces=len(analyzed.faces),
                results=[c.record_id for c in candidates],
                facts_given=sorted(k for k, v in (facts.__dict__ if facts else {}).items() if v is not None),
            )
        return analyzed, candidates
