"""Search one side's index with query embeddings: best face per record, ranked by cosine.

Fusion over a record's several photos (and calibration) belongs to the review layer;
here a record's score is its best face pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from matcher.index.faiss_index import FaceIndex
from matcher.store import repo


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
