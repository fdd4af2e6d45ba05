"""Synthetic galleries for load tests and benchmarks: records whose template embeddings
are drawn to match a pack's measured impostor distribution, stored like real ones
(record, media, face, embedding rows; FAISS entries) but with no photo behind them.

``impostor_vectors``: unit vectors around a shared mean direction, so that the cosine of
two different people has the pack's impostor mean and spread (``impostor_mean`` /
``impostor_std`` in ``pack.toml``: 0.147 / 0.098 for the default pack) — a random unit
vector in 128-d alone would give 0 ± 0.088, too easy. ``mate_of``: a second photo of the
same person with a chosen expected cosine.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session

from matcher.index.manager import IndexManager
from matcher.store import index_state
from matcher.store.tables import Embedding, Face, Media, Record
from matcher.vectors import l2_normalize


def impostor_vectors(n: int, dim: int, mean: float, std: float, seed: int = 0, centre: np.ndarray | None = None) -> np.ndarray:
    """``n`` unit vectors whose pairwise cosines have roughly the given mean and spread.

    Each vector is ``a·c + b·u_i + e_i`` (``c`` shared, ``u_i`` a per-person direction in a
    low-rank "face space", ``e_i`` isotropic noise); ``a`` sets the mean, the low-rank part
    the spread beyond what isotropic noise gives. ``centre``: the shared direction ``c`` (e.g.
    the mean of real embeddings, so the vectors are impostors of real faces too); random
    when not given."""
    rng = np.random.default_rng(seed)
    c = l2_normalize(rng.normal(size=dim) if centre is None else np.asarray(centre, np.float64))
    rank = 8
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0].T  # (rank, dim) orthonormal
    a2 = max(mean, 1e-3)
    # low-rank part: cosine spread from sharing only `rank` directions
    extra = max(std**2 - (1 - a2) ** 2 / dim, 0.0)
    b2 = min((1 - a2) * 0.95, np.sqrt(extra * rank))
    e2 = max(1 - a2 - b2, 1e-3)
    low = rng.normal(size=(n, rank)) / np.sqrt(rank) @ basis
    noise = rng.normal(size=(n, dim)) / np.sqrt(dim)
    v = np.sqrt(a2) * c + np.sqrt(b2) * l2_normalize(low) + np.sqrt(e2) * l2_normalize(noise)
    return l2_normalize(v).astype(np.float32)


def mate_of(vectors: np.ndarray, cosine: float, seed: int = 1) -> np.ndarray:
    """Another photo of each person: expected cosine ``cosine`` with the original."""
    rng = np.random.default_rng(seed)
    noise = l2_normalize(rng.normal(size=vectors.shape))
    noise = l2_normalize(noise - (noise * vectors).sum(axis=1, keepdims=True) * vectors)
    return l2_normalize(cosine * vectors + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def store_records(session: Session, side: str, vectors: np.ndarray, pack: str, prefix: str, start: int = 0, **fields) -> list[tuple[int, int, np.ndarray]]:
    """One record per vector (a single template face each); returns (record id, face id,
    vector) for the caller to add to the index after commit."""
    out = []
    index_state.bump(session, side, pack)  # before the face ids (see store.index_state)
    for i, vec in enumerate(vectors, start=start):
        record = Record(side=side, external_id=f"{prefix}{i:06d}", needs_match=True, **fields)
        session.add(record)
        session.flush()
        digest = hashlib.sha256(f"{side}/{prefix}{i}".encode()).hexdigest()
        media = Media(record_id=record.id, sha256=digest, kind="photo", size_bytes=0, face_count=1)
        session.add(media)
        session.flush()
        face = Face(media_id=media.id, x1=0, y1=0, x2=100, y2=100, landmarks=[[0, 0]] * 5, det_score=0.9, quality=0.9, selected=True)
        face.embeddings.append(Embedding(pack=pack, dim=vec.size, vector=vec.astype(np.float32).tobytes()))
        session.add(face)
        session.flush()
        out.append((record.id, face.id, vec))
    if out:
        index_state.bump(session, side, pack, max_face_id=max(f for _, f, _ in out))
    return out


class HasIndexes(Protocol):
    @property
    def indexes(self) -> IndexManager: ...


def index_records(services: HasIndexes, side: str, pack: str, dim: int, stored: list[tuple[int, int, np.ndarray]]) -> None:
    if stored:
        ids = np.array([f for _, f, _ in stored], np.int64)
        services.indexes.add(side, pack, dim, ids, np.stack([v for _, _, v in stored]))
