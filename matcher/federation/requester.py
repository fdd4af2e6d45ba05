"""The asking side: build a search for a report's template faces, read the answer, keep the
best handles as remote leads.

``EncryptedSearch`` holds the fresh CKKS secret key of one search in memory only, from
the request it builds to the answer it decrypts; a record fuses its faces by its best
score (the holder's rows of one record share a handle), the report's faces likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.federation.ckks import SCHEME, CkksScheme, ProbeKeys
from matcher.federation.messages import EncryptedAnswer, PlainAnswer, PlainProbe, SearchRequest
from matcher.federation.policy import QueryFacts
from matcher.types import Side


@dataclass(frozen=True)
class RemoteLead:
    handle: str
    score: float
    face: int  # which of the report's template faces gave the score


def best_per_handle(scores: np.ndarray, rows_per_handle: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(best, face)`` per handle: the highest score over its rows and the query's faces,
    and the face that gave it. ``scores``: (faces, rows), rows grouped by handle."""
    counts = np.asarray(rows_per_handle, np.int64)
    if counts.size == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    if scores.shape[1] != int(counts.sum()):
        raise ValueError(f"{scores.shape[1]} scores for {int(counts.sum())} rows")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_face = np.maximum.reduceat(scores, starts, axis=1)  # (faces, handles)
    face = np.argmax(per_face, axis=0)
    return per_face[face, np.arange(per_face.shape[1])], face


def top_leads(handles: list[str], best: np.ndarray, face: np.ndarray, k: int) -> list[RemoteLead]:
    order = np.argsort(-best, kind="stable")[:k]
    return [RemoteLead(handles[i], float(best[i]), int(face[i])) for i in order]


class EncryptedSearch:
    def __init__(self, probes: np.ndarray, side: Side, facts: QueryFacts | None = None, scheme: CkksScheme = SCHEME) -> None:
        self._keys = ProbeKeys(scheme)
        self.request = SearchRequest(side, facts or QueryFacts(), self._keys.encrypt(probes))

    def scores(self, answer: EncryptedAnswer) -> np.ndarray:
        """(faces, rows): the decrypted scores, rows in the answer's order."""
        if len(answer.scores.faces) != self.request.faces:
            raise ValueError(f"the answer scores {len(answer.scores.faces)} faces; {self.request.faces} were sent")
        return self._keys.decrypt(answer.scores, answer.rows)

    def leads(self, answer: EncryptedAnswer, k: int) -> list[RemoteLead]:
        best, face = best_per_handle(self.scores(answer), answer.rows_per_handle)
        return top_leads(answer.handles, best, face, k)


def plain_request(probes: np.ndarray, side: Side, k: int, facts: QueryFacts | None = None) -> SearchRequest:
    probes = np.atleast_2d(np.asarray(probes, np.float32))
    return SearchRequest(side, facts or QueryFacts(), PlainProbe(probes, k))


def plain_leads(answer: PlainAnswer, k: int) -> list[RemoteLead]:
    best: dict[int, tuple[float, int]] = {}
    for f, hits in enumerate(answer.faces):
        for position, score in hits:
            if position not in best or score > best[position][0]:
                best[position] = (score, f)
    order = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    return [RemoteLead(answer.handle(p), s, f) for p, (s, f) in order]
