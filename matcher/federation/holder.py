"""The holder's side of a peer's search: check the policy, hide the order, grant one-time
handles, and compute the answer (encrypted scores for every row, or a plain top K).

The caller has verified the signature, counted the peer's hourly rate and built the
gallery from the records the policy lets this peer search (narrowed by the query's facts).
Nothing here writes the audit; the caller records who asked, how many faces, which
facts, and ``rows`` compared.
"""

from __future__ import annotations

import secrets

import numpy as np

from matcher.federation import ckks
from matcher.federation import handles as _handles
from matcher.federation.gallery import Gallery
from matcher.federation.messages import MAX_ROWS_PER_HANDLE, EncryptedAnswer, PlainAnswer, PlainProbe, SearchRequest
from matcher.federation.policy import PeerPolicy


def _fresh_rng() -> np.random.Generator:
    return np.random.default_rng(secrets.randbits(128))  # a new seed from the OS for every answer


def answer(
    request: SearchRequest,
    gallery: Gallery,
    *,
    policy: PeerPolicy,
    peer: str,
    handles: _handles.HandleStore,
    now: float,
    ttl_s: float,
    generation: int | None = None,
    rng: np.random.Generator | None = None,
) -> EncryptedAnswer | PlainAnswer:
    """Answer ``request`` from ``peer`` (its key id) over ``gallery``; ``PeerForbidden``
    (403) when its policy does not allow it, before any row is touched."""
    policy.admit(request.side, request.mode, request.facts, request.faces)
    if gallery.side is not request.side:
        raise ValueError(f"the gallery holds {gallery.side.plural}, the request searches {request.side.plural}")
    records, counts, matrix = gallery.shuffled_by_record(rng or _fresh_rng())
    if counts.size and counts.max() > MAX_ROWS_PER_HANDLE:
        raise ValueError(f"a record has more than {MAX_ROWS_PER_HANDLE} template faces")
    if isinstance(request.probe, PlainProbe):
        return _plain(request.probe, records, counts, matrix, peer, handles, now, ttl_s, generation, rng or _fresh_rng())
    if gallery.rows:
        scores = ckks.score(request.probe, matrix, max_faces=policy.max_faces)
    else:
        scores = ckks.EncryptedScores(ckks.scheme_named(request.probe.scheme).name, tuple(() for _ in request.probe.faces))
    answer_id = _handles.grant(handles, peer, records.tolist(), now, ttl_s)
    return EncryptedAnswer(answer_id, tuple(int(c) for c in counts), scores, generation)


def _plain(
    probe: PlainProbe,
    records: np.ndarray,
    counts: np.ndarray,
    matrix: np.ndarray,
    peer: str,
    handles: _handles.HandleStore,
    now: float,
    ttl_s: float,
    generation: int | None,
    rng: np.random.Generator,
) -> PlainAnswer:
    """Each face's best ``k`` records (a record scores its best face); only those records
    get handles, in a fresh random order."""
    if records.size == 0:
        answer_id = _handles.grant(handles, peer, [], now, ttl_s)
        return PlainAnswer(answer_id, 0, tuple(() for _ in range(probe.faces)), generation)
    if matrix.shape[1] != probe.embeddings.shape[1]:
        raise ValueError(f"the probe has {probe.embeddings.shape[1]} values, the gallery {matrix.shape[1]}")
    scores = matrix @ probe.embeddings.T  # (rows, faces)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_record = np.maximum.reduceat(scores, starts, axis=0)  # (records, faces)
    k = min(probe.k, per_record.shape[0])
    tops = []
    for f in range(probe.faces):
        col = per_record[:, f]
        top = np.argpartition(-col, k - 1)[:k]
        tops.append(top[np.argsort(-col[top], kind="stable")])
    chosen = np.unique(np.concatenate(tops))
    chosen = chosen[rng.permutation(chosen.shape[0])]
    position = {int(r): i for i, r in enumerate(chosen)}
    answer_id = _handles.grant(handles, peer, records[chosen].tolist(), now, ttl_s)
    faces = tuple(tuple((position[int(r)], float(per_record[r, f])) for r in top) for f, top in enumerate(tops))
    return PlainAnswer(answer_id, int(chosen.shape[0]), faces, generation)
