"""``FaceIndex``: database face ids -> L2-normalised float32 embeddings, searched by cosine.

The index is a derived cache of the database (invariant 1, docs/architecture.md): it can always be rebuilt
from stored embeddings, so this module optimises for *detecting* a wrong or damaged file
(checksum, pack, dim, count, max id) rather than for repairing one.

Structure
---------
* **store** -- ``IndexIDMap2(IndexFlatIP)``: every vector in exact float32 under its face id.
  In ``exact`` mode it is the whole index. In ``ann`` mode it is the source of exact scores
  for re-ranking and of training data when the coarse index is (re)trained.
* **coarse** (``ann`` mode only) -- ``IndexIVFScalarQuantizer`` (8-bit codes, inner product)
  that proposes a shortlist of ``max(4k, 200)`` ids; those are re-scored exactly against the
  store and the best ``k`` returned. Scores are therefore always exact cosines; only *which*
  vectors are considered is approximate. IVF was chosen over HNSW because FAISS's HNSW cannot
  remove vectors, and erasure (invariant 5, docs/architecture.md) must take a face out at once. The 8-bit codes make
  the scan ~1.4x faster than IVF-Flat at the same recall (measured; the exact re-rank hides
  the quantisation error) and cost only 1 byte per dimension on top of the store.

ANN parameters are derived from the gallery size ``n`` (tuned with ``scripts/bench_index.py``
on clustered synthetic faces, dim 128, 2 threads): ``nlist = 4*sqrt(n)``; ``nprobe`` = enough
lists to scan ~90k vectors (about 3 ms), and never under 9 % of the lists (which binds above
10^6 faces, where recall at a fixed share of lists holds up but latency grows). Measured
recall@50 vs exact: ~1.0 up to 10^5, 0.998 at 3x10^5, 0.97 at 10^6 (p50 ~3 ms), 0.98 at
2x10^6 (p50 ~6 ms). The tuning is for dim 128: with the same generator at dim 512 recall at
these settings was far lower, so re-run the benchmark (``--dim``) before using such a pack
in ``ann`` mode. Below ``ANN_MIN_SIZE`` (20k) vectors an ``ann``
index simply searches the store exactly: at that size exact search takes well under a
millisecond and k-means on so few points would be poor. The coarse index is trained the
first time the gallery reaches ``ANN_MIN_SIZE`` and re-trained whenever it has grown
``ANN_RETRAIN_GROWTH`` (4x) past the size it was trained on, so lists stay balanced;
that ``add`` call takes longer (about 15 s at 10^6 faces).

Files: ``save``/``load`` write and verify the format of ``index.fileformat`` (checksummed,
atomic); a damaged file is reported as ``IndexCorruptError`` before FAISS parses a byte.

Threads: FAISS uses OpenMP threads process-wide; call ``set_faiss_threads`` once from the
composition root. Nothing here changes it at import time. A ``FaceIndex`` serialises its
own calls with a lock, so it can be shared between request threads.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from typing import cast

import faiss
import numpy as np
import numpy.typing as npt

from matcher.errors import DuplicateFaceIdError, IndexCorruptError, IndexMismatchError
from matcher.index.fileformat import AnnParams, IndexMeta, Mode, load_bytes, save_bytes

Hit = tuple[int, float]

ANN_MIN_SIZE = 20_000  # below this an "ann" index searches exactly
ANN_LIST_FACTOR = 4.0  # nlist = ANN_LIST_FACTOR * sqrt(n)
ANN_PROBE_FRACTION = 0.09  # share of the lists probed per query ...
ANN_MIN_SCAN = 90_000  # ... but at least enough lists to scan about this many vectors
ANN_TRAIN_PER_LIST = 40  # k-means sample = 40 points per list (FAISS warns under 39)
ANN_KMEANS_ITER = 10
ANN_SHORTLIST_MIN = 200  # shortlist = max(ANN_SHORTLIST_FACTOR * k, ANN_SHORTLIST_MIN)
ANN_SHORTLIST_FACTOR = 4
ANN_RETRAIN_GROWTH = 4.0
_NORM_EPS = 1e-6
_RERANK_FLOATS = 1 << 22  # shortlist vectors gathered at once (16 MB of float32)


def ann_params_for(n: int) -> AnnParams:
    """Coarse-index parameters for a gallery of ``n`` vectors (see module docstring for why)."""
    nlist = max(1, min(n, round(ANN_LIST_FACTOR * math.sqrt(n))))
    share = max(ANN_PROBE_FRACTION, ANN_MIN_SCAN / max(n, 1))
    nprobe = max(1, min(nlist, math.ceil(share * nlist)))
    return AnnParams(nlist=nlist, nprobe=nprobe, trained_on=n)


def set_faiss_threads(n: int) -> None:
    """Set FAISS's (process-wide) OpenMP thread count. Call once at start-up, not per search."""
    if n < 1:
        raise ValueError("thread count must be >= 1")
    faiss.omp_set_num_threads(n)


def is_stale(index: FaceIndex, db_ids: npt.ArrayLike) -> bool:
    """True when ``index`` does not hold exactly the face ids ``db_ids`` (the database's)."""
    return not index.agrees_with(db_ids)


def _as_ids(ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be integers, got {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError("face ids must be >= 0 (FAISS uses -1 for 'no result')")
    return arr


class FaceIndex:
    """Cosine search over face embeddings keyed by database face id. Use ``create``/``build``/``load``."""

    def __init__(
        self,
        pack: str,
        dim: int,
        mode: Mode,
        side: str,
        store: faiss.IndexIDMap2,
        coarse: faiss.IndexIVFScalarQuantizer | None = None,
        ann: AnnParams | None = None,
    ) -> None:
        if not pack:
            raise ValueError("pack must be a non-empty name")
        if dim < 1:
            raise ValueError("dim must be >= 1")
        if mode not in ("exact", "ann"):
            raise ValueError(f"mode must be 'exact' or 'ann', got {mode!r}")
        if not side:
            raise ValueError("side must be a non-empty name")
        self._pack, self._dim, self._mode, self._side = pack, dim, mode, side
        self._store = store
        self._coarse = coarse
        self._ann = ann
        # Sorted copy of the ids: O(log n) duplicate checks, O(1) max id, cheap set equality.
        self._sorted_ids = np.sort(faiss.vector_to_array(store.id_map).astype(np.int64))
        self._lock = threading.RLock()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def create(cls, pack: str, dim: int, mode: Mode = "exact", side: str = "children") -> FaceIndex:
        """An empty index for one model pack, embedding size and side (children/reports)."""
        return cls(pack, dim, mode, side, faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def build(
        cls,
        pack: str,
        dim: int,
        ids: npt.ArrayLike,
        vectors: npt.ArrayLike,
        mode: Mode = "exact",
        side: str = "children",
    ) -> FaceIndex:
        """Bulk build (``reindex`` from the database): one add, so ANN is trained once on all."""
        index = cls.create(pack, dim, mode, side)
        index.add(ids, vectors)
        return index

    # ---- properties ---------------------------------------------------------------------
    @property
    def pack(self) -> str:
        return self._pack

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def side(self) -> str:
        return self._side

    @property
    def max_id(self) -> int | None:
        """Largest face id present, ``None`` when empty."""
        return int(self._sorted_ids[-1]) if self._sorted_ids.size else None

    @property
    def ann_params(self) -> AnnParams | None:
        """Parameters of the trained coarse index; ``None`` while searching exactly."""
        return self._ann

    @property
    def meta(self) -> IndexMeta:
        return IndexMeta(self._pack, self._dim, self._mode, self._side, len(self), self.max_id, self._ann)

    def __len__(self) -> int:
        return int(self._store.ntotal)

    def ids(self) -> npt.NDArray[np.int64]:
        """The face ids present, ascending (a copy)."""
        return self._sorted_ids.copy()

    def agrees_with(self, ids: npt.ArrayLike) -> bool:
        """True when this index holds exactly the face ids ``ids`` (count, max id, then the set)."""
        other = _as_ids(ids)
        if other.size != self._sorted_ids.size:
            return False
        if other.size == 0:
            return True
        if int(other.max()) != self.max_id:
            return False
        return bool(np.array_equal(np.sort(other), self._sorted_ids))

    # ---- mutation -----------------------------------------------------------------------
    def _prepare(self, vectors: npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
        """Validate (m, dim) float data and return contiguous, re-normalised float32."""
        arr = np.asarray(vectors)
        if arr.ndim == 1 and what == "queries":
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 2-D (n, dim), got shape {arr.shape}")
        if arr.shape[1] != self._dim:
            raise IndexMismatchError(f"{what} have dimension {arr.shape[1]} but the {self._pack} index has {self._dim}")
        if arr.size and not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{what} must be floating point, got {arr.dtype}")
        arr = np.asarray(arr, dtype=np.float32)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms < _NORM_EPS):
            raise ValueError(f"{what} contain a zero, NaN or infinite vector")
        # Stored embeddings are already unit length; dividing again is cheap insurance that
        # inner product stays a cosine even if a caller forgot.
        return np.ascontiguousarray(arr / norms, dtype=np.float32)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add ``vectors`` (n, dim) under face ``ids`` (n,). Refuses ids already present."""
        id_arr = _as_ids(ids)
        vecs = self._prepare(vectors, "vectors")
        if id_arr.size != vecs.shape[0]:
            raise ValueError(f"{id_arr.size} ids for {vecs.shape[0]} vectors")
        if id_arr.size == 0:
            return
        sorted_new = np.sort(id_arr)
        if np.any(sorted_new[1:] == sorted_new[:-1]):
            raise DuplicateFaceIdError("the same face id appears twice in one add")
        with self._lock:
            if self._sorted_ids.size:
                pos = np.searchsorted(self._sorted_ids, sorted_new)
                hit = pos < self._sorted_ids.size
                present = sorted_new[hit][self._sorted_ids[pos[hit]] == sorted_new[hit]]
                if present.size:
                    raise DuplicateFaceIdError(f"face ids already indexed: {present[:5].tolist()}")
            self._store.add_with_ids(vecs, id_arr)
            self._sorted_ids = np.insert(self._sorted_ids, np.searchsorted(self._sorted_ids, sorted_new), sorted_new)
            if self._mode == "ann":
                if self._coarse is not None and len(self) < ANN_RETRAIN_GROWTH * self._ann_trained_on():
                    self._coarse.add_with_ids(vecs, id_arr)
                elif len(self) >= ANN_MIN_SIZE:
                    self._train_coarse()

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove face ``ids``; unknown ids are ignored. Returns how many were removed.

        Cost is linear in the index size (FAISS compacts the flat store and scans the lists),
        which is fine for erasure but not for bulk churn: rebuild for that.
        """
        id_arr = np.unique(_as_ids(ids))
        if id_arr.size == 0:
            return 0
        with self._lock:
            keep = ~np.isin(self._sorted_ids, id_arr, assume_unique=True)
            if keep.all():
                return 0
            removed = int(self._store.remove_ids(faiss.IDSelectorBatch(id_arr)))
            if self._coarse is not None:
                self._coarse.remove_ids(faiss.IDSelectorBatch(id_arr))
            self._sorted_ids = self._sorted_ids[keep]
            return removed

    def _ann_trained_on(self) -> int:
        return self._ann.trained_on if self._ann is not None else 0

    def _train_coarse(self) -> None:
        """(Re)build the IVF-SQ8 coarse index from every vector in the store."""
        n = len(self)
        params = ann_params_for(n)
        inner = cast(faiss.IndexFlat, faiss.downcast_index(self._store.index))
        xb = faiss.rev_swig_ptr(inner.get_xb(), n * self._dim).reshape(n, self._dim)  # a view, no copy
        ids = faiss.vector_to_array(self._store.id_map).astype(np.int64)
        quantizer = faiss.IndexFlatIP(self._dim)
        coarse = faiss.IndexIVFScalarQuantizer(quantizer, self._dim, params.nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        coarse.cp.niter = ANN_KMEANS_ITER
        sample = min(n, params.nlist * ANN_TRAIN_PER_LIST)
        rows = np.sort(np.random.default_rng(0).choice(n, sample, replace=False))
        coarse.train(np.ascontiguousarray(xb[rows]))
        coarse.add_with_ids(xb, ids)
        coarse.nprobe = params.nprobe
        self._coarse, self._ann = coarse, params

    # ---- search -------------------------------------------------------------------------
    def search(self, queries: npt.ArrayLike, k: int) -> list[list[Hit]]:
        """The ``k`` most similar faces per query as ``(face_id, cosine)``, best first.

        Fewer than ``k`` when the index is smaller; empty lists when it is empty.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        q = self._prepare(queries, "queries")
        with self._lock:
            n = len(self)
            if n == 0 or q.shape[0] == 0:
                return [[] for _ in range(q.shape[0])]
            if self._coarse is None:
                scores, labels = self._store.search(q, min(k, n))
            else:
                scores, labels = self._rerank(q, k)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0] for row_ids, row_scores in zip(labels, scores, strict=True)]

    def _rerank(self, q: npt.NDArray[np.float32], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Shortlist with the coarse index, then score the shortlist exactly from the store.

        Queries go in chunks so the gathered shortlist vectors stay ~16 MB however many
        queries a batch match sends."""
        assert self._coarse is not None
        shortlist = min(len(self), max(ANN_SHORTLIST_FACTOR * k, ANN_SHORTLIST_MIN))
        kk = min(k, shortlist)
        scores = np.empty((q.shape[0], kk), dtype=np.float32)
        labels = np.empty((q.shape[0], kk), dtype=np.int64)
        chunk = max(1, _RERANK_FLOATS // (shortlist * self._dim))
        for start in range(0, q.shape[0], chunk):
            qc = q[start : start + chunk]
            _, cand = self._coarse.search(qc, shortlist)
            valid = cand >= 0
            vecs = np.zeros((*cand.shape, self._dim), dtype=np.float32)
            vecs[valid] = self._store.reconstruct_batch(np.ascontiguousarray(cand[valid]))
            exact = np.einsum("mld,md->ml", vecs, qc)
            exact[~valid] = -np.inf
            top = np.argsort(-exact, axis=1, kind="stable")[:, :kk]
            scores[start : start + chunk] = np.take_along_axis(exact, top, axis=1)
            labels[start : start + chunk] = np.take_along_axis(cand, top, axis=1)
        labels[~np.isfinite(scores)] = -1
        return scores, labels

    # ---- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], generation: int | None = None) -> None:
        """Write atomically in the ``index.fileformat`` format (old file kept on failure),
        with the database ``generation`` the caller knows these faces to be current at."""
        with self._lock:
            sections = [faiss.serialize_index(self._store)]
            if self._coarse is not None:
                sections.append(faiss.serialize_index(self._coarse))
            meta = dataclasses.replace(self.meta, generation=generation)
        save_bytes(path, meta, sections)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        pack: str,
        dim: int,
        side: str | None = None,
        mode: Mode | None = None,
    ) -> FaceIndex:
        """Load and verify a saved index. Corruption is checked before pack/dim, and before
        FAISS parses a byte, so a damaged file can never crash the process."""
        meta, sections = load_bytes(path, pack=pack, dim=dim, side=side, mode=mode)
        try:
            store = faiss.deserialize_index(sections[0])
            coarse = faiss.deserialize_index(sections[1]) if len(sections) > 1 else None
        except RuntimeError as exc:
            raise IndexCorruptError(f"index file {path} cannot be parsed: {exc}") from exc
        if not isinstance(store, faiss.IndexIDMap2) or (coarse is not None and not isinstance(coarse, faiss.IndexIVFScalarQuantizer)):
            raise IndexCorruptError(f"index file {path} holds unexpected FAISS index types")
        if (coarse is None) != (meta.ann is None):
            raise IndexCorruptError(f"index file {path} sections do not match its header")
        index = cls(meta.pack, meta.dim, meta.mode, meta.side, store, coarse, meta.ann)
        if (
            store.d != meta.dim
            or len(index) != meta.count
            or index.max_id != meta.max_id
            or (coarse is not None and (coarse.ntotal != meta.count or coarse.d != meta.dim))
        ):
            raise IndexCorruptError(f"index file {path} contents disagree with its header")
        if coarse is not None and meta.ann is not None:
            coarse.nprobe = meta.ann.nprobe
        return index
