"""Pure vector maths for embeddings (float32, L2-normalised, cosine = inner product)."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise unit length, float32. Zero rows stay zero rather than becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32, copy=False)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs cosine similarity of two sets of unit vectors."""
    return np.asarray(a, np.float32) @ np.asarray(b, np.float32).T


def to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_bytes(blob: bytes, dim: int) -> np.ndarray:
    v = np.frombuffer(blob, dtype=np.float32)
    if v.size != dim:
        raise ValueError(f"embedding has {v.size} values, expected {dim}")
    return v


def stack_bytes(blobs, dim: int) -> np.ndarray:
    """Stored float32 embeddings (bytes, one per row) -> (n, dim) array; (0, dim) when empty."""
    blobs = list(blobs)
    if not blobs:
        return np.zeros((0, dim), np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
