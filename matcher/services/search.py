"""Search one side's index with query embeddings: best face per record, ranked by cosine.

Fusion over a record's several photos (and calibration) belongs to the review layer;
here a record's score is its best face pair. ``SearchService.photo`` is the audited ad-hoc
search with one photo (API ``/v1/search``, ``matcher search``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.orm import Session

from matcher.errors import InputError
from matcher.index.faiss_index import FaceIndex
from matcher.store import repo

if TYPE_CHECKING:  # for annotations only: the container imports this module
    from matcher.services.container import AnalyzedImage


@dataclass(frozen=True)
class SearchCandidate:
    record_id: str  # the record's own number
    score: float
    face_id: int
    media: str  # sha256 of the media holding the matching face
    query_face: int

    def as_dict(self) -> dict:
        return {"record_id": self.record_id, "score": round(self.score, 4), "face_id": self.face_id, "media": self.media, "query_face": self.query_face}


def search_records(session: Session, index: FaceIndex, queries: np.ndarray, top_k: int) -> list[SearchCandidate]:
    if len(index) == 0 or len(queries) == 0:
        return []
    # several faces per record: fetch enough neighbours that top_k distinct records survive
    k = min(len(index), max(top_k * 10, 100))
    hits = index.search(queries, k)
    meta = repo.face_hits(session, (fid for row in hits for fid, _ in row))
    best: dict[int, SearchCandidate] = {}
    for query_face, row in enumerate(hits):
        for face_id, score in row:
            info = meta.get(face_id)
            if info is None:  # face erased since the index was read
                continue
            current = best.get(info.record_id)
            if current is None or score > current.score:
                best[info.record_id] = SearchCandidate(info.external_id, float(score), face_id, info.media_sha256, query_face)
    return sorted(best.values(), key=lambda c: (-c.score, c.record_id))[:top_k]


class SearchService:
    def __init__(self, services) -> None:
        self.services = services

    def photo(self, data: bytes, side: str, top_k: int, actor: str, role: str, pack: str | None = None, request_id: str | None = None) -> tuple[AnalyzedImage, list[SearchCandidate]]:
        """Faces of one photo searched against one side; audited (invariant 4)."""
        if top_k < 1 or top_k > 1000:
            raise InputError("top must be between 1 and 1000")
        svc = self.services
        analyzed = svc.analyze_bytes(data, pack)
        queries = np.stack([f.embedding for f in analyzed.faces]) if analyzed.faces else np.zeros((0, 1), np.float32)
        index = svc.index(side, pack)
        with svc.sessions.begin() as session:
            candidates = search_records(session, index, queries, top_k)
            repo.audit(
                session, actor, role, "search", "side", side, request_id,
                faces=len(analyzed.faces), results=[c.record_id for c in candidates],
            )
        return analyzed, candidates
