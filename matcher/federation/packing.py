"""Where the numbers sit in the CKKS slots (pure numpy; ``ckks`` does the encryption).

The holder computes ``scores = G @ q`` for its gallery ``G`` (rows of ``D = 128`` values)
and an encrypted probe ``q``, with ciphertexts of ``S`` slots (``S = 2048`` at ring degree
4096). The layout is the diagonal one (Halevi–Shoup) with a baby-step/giant-step split:

* ``q`` is replicated across the slots: ``rep[i] = q[i mod D]``. Write ``rot_r`` for the
  left rotation ``x -> x[i + r]``.
* For a block of ``S`` gallery rows, diagonal ``k`` is ``d_k[i] = G[i, (i + k) mod D]``;
  then ``scores = sum_k d_k * rot_k(rep)`` slot by slot.
* With ``k = B*j + t`` (``B`` baby steps): ``scores = sum_j rot_{B*j}(w_j)`` where
  ``w_j = sum_t rot_{-B*j}(d_{B*j+t}) * rot_t(rep)``. The requester encrypts the ``B`` baby
  vectors ``rot_t(rep)`` itself (fresh ciphertexts, no rotation noise at the probe's small
  scale); the holder multiplies by the pre-rotated diagonals and folds the giant steps in
  Horner form, ``acc = rot_B(acc) + w_j``, with a single rotation key (step ``B``), at the
  product's full scale where the rotation noise is negligible.
* Two blocks share one plaintext: the first block's diagonals are the real parts, the
  second's the imaginary parts (the probe is real), so each answer ciphertext carries
  ``2*S`` scores — real parts, then imaginary parts.

``simulate`` replays the holder's steps with ``np.roll`` so the layout is tested on its own.
"""

from __future__ import annotations

import numpy as np


def check_layout(slots: int, dim: int, baby: int) -> None:
    if slots % dim or dim % baby:
        raise ValueError(f"the layout needs slots ({slots}) divisible by dim ({dim}) and dim divisible by the baby steps ({baby})")


def rows_per_ciphertext(slots: int) -> int:
    return 2 * slots


def ciphertexts_for(n_rows: int, slots: int) -> int:
    return -(-n_rows // rows_per_ciphertext(slots))


def baby_step_vectors(probe: np.ndarray, slots: int, baby: int) -> np.ndarray:
    """``(baby, slots)``: ``rot_t`` of the replicated probe for ``t < baby``."""
    probe = np.asarray(probe, np.float64)
    rep = np.tile(probe, slots // probe.shape[0])
    return np.stack([np.roll(rep, -t) for t in range(baby)])


def diagonal_planes(rows: np.ndarray, slots: int, baby: int) -> np.ndarray:
    """``(dim, slots)`` complex: plaintext ``k`` for up to ``2*slots`` gallery rows, the
    first ``slots`` rows in the real parts and the rest in the imaginary parts, each
    diagonal pre-rotated by ``-baby * (k // baby)``. Missing rows are zeros."""
    rows = np.asarray(rows, np.float64)
    dim = rows.shape[1]
    if rows.shape[0] > 2 * slots:
        raise ValueError(f"one plaintext block holds at most {2 * slots} rows, not {rows.shape[0]}")
    block = np.zeros((2 * slots, dim))
    block[: rows.shape[0]] = rows
    i = np.arange(slots)[:, None]
    cols = (i + np.arange(dim)[None, :]) % dim  # d_k[i] = G[i, (i + k) mod dim]
    planes = (block[:slots][i, cols] + 1j * block[slots:][i, cols]).T  # (dim, slots)
    shift = baby * (np.arange(dim) // baby)  # rot_{-shift}(d_k)[i] = d_k[i - shift]
    src = (np.arange(slots)[None, :] - shift[:, None]) % slots
    return np.take_along_axis(planes, src, axis=1)


def unpack_scores(decoded: list[np.ndarray], n_rows: int) -> np.ndarray:
    """Scores in gallery row order from the decoded answer ciphertexts (complex slots)."""
    parts = []
    for values in decoded:
        values = np.asarray(values)
        parts += [values.real, values.imag]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    if flat.shape[0] < n_rows:
        raise ValueError(f"the answer holds {flat.shape[0]} scores, fewer than its {n_rows} rows")
    return flat[:n_rows].astype(np.float64)


def simulate(probe: np.ndarray, gallery: np.ndarray, slots: int, baby: int) -> np.ndarray:
    """The holder's evaluation in the clear (rotations as ``np.roll``): equals ``gallery @ probe``."""
    dim = gallery.shape[1]
    check_layout(slots, dim, baby)
    u = baby_step_vectors(probe, slots, baby)
    step = rows_per_ciphertext(slots)
    outs = []
    for start in range(0, gallery.shape[0], step):
        planes = diagonal_planes(gallery[start : start + step], slots, baby)
        acc = None
        for j in reversed(range(dim // baby)):
            w = sum(u[t] * planes[baby * j + t] for t in range(baby))
            acc = w if acc is None else np.roll(acc, -baby) + w
        outs.append(acc)
    return unpack_scores(outs, gallery.shape[0])
