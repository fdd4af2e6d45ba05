"""The rows a holder compares a peer's probe with: template-face embeddings and the record
each belongs to (built by the caller from the records the peer's policy lets it search)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.types import Side


@dataclass(frozen=True, eq=False)
class Gallery:
    side: Side
    record_ids: np.ndarray  # (rows,) int64: the record of each row (a record may have several faces)
    embeddings: np.ndarray  # (rows, dim) float32, L2-normalised

    def __post_init__(self) -> None:
        ids = np.asarray(self.record_ids, np.int64)
        emb = np.asarray(self.embeddings, np.float32)
        if ids.ndim != 1 or emb.ndim != 2 or ids.shape[0] != emb.shape[0]:
            raise ValueError(f"a gallery is one record id per embedding row, not {ids.shape} ids for {emb.shape} embeddings")
        if emb.shape[0] and (not np.all(np.isfinite(emb)) or np.any(np.abs(np.linalg.norm(emb, axis=1) - 1) > 1e-3)):
            raise ValueError("gallery embeddings must be finite and L2-normalised")
        if np.any(ids < 0):
            raise ValueError("record ids are positive")
        object.__setattr__(self, "record_ids", ids)
        object.__setattr__(self, "embeddings", emb)

    @property
    def rows(self) -> int:
        return int(self.record_ids.shape[0])

    def shuffled_by_record(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(records, counts, matrix)``: the records in a fresh random order, how many rows
        each has, and the embedding rows grouped in that order (each record's rows together,
        themselves shuffled). Nothing of the stored order survives into an answer."""
        uniq, inverse, counts = np.unique(self.record_ids, return_inverse=True, return_counts=True)
        perm = rng.permutation(uniq.shape[0])  # position p holds record uniq[perm[p]]
        position = np.empty_like(perm)
        position[perm] = np.arange(perm.shape[0])
        order = np.lexsort((rng.random(self.rows), position[inverse]))
        return uniq[perm], counts[perm], self.embeddings[order]
