"""Keeps one FaceIndex per (side, pack) in agreement with the database, in every process.

The database is the source of truth (invariant 1, docs/architecture.md). On first use an index file is loaded
and checked: corrupt, foreign (other pack/dim) or unreadable files are rebuilt from stored
embeddings; a file that lacks some of the database's faces (an interrupted run) is caught
up; one holding faces the database no longer has is rebuilt. Each case is logged.

Freshness across processes: each FAISS index is a per-process cache, and other processes
(``matcher index``, another API worker) change the faces. Every change bumps the
(side, pack) row of ``store.index_state`` in its own transaction. ``get`` (before every
search and match) reads that row — one small query — and compares it with the row the
in-memory index was last brought up to:

* equal: the index is current;
* only appends since: the template faces with an id above the remembered ``max_face_id``
  are loaded and added (cost: the new faces);
* erasures or changed face picks since: the face ids the row keeps for them are removed
  (or loaded again), plus the appends as above;
* anything else (that tail no longer reaches back far enough, a restored database): the
  face id sets are compared in full, faces gone from the database are removed and missing
  ones added.

The index object is changed in place, so a caller holding it keeps a valid one.

Files: several processes save the same file. Writes are atomic (``files.atomic_write``),
so a reader never sees half a file; saving also holds an advisory lock on a ``.lock``
file beside it and skips the write when the file on disk carries a newer generation, so a
process with an older index never replaces a newer file. A file is only ever a start-up
cache: whatever it holds is checked against the database when it is opened.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import IndexCorruptError, IndexMismatchError
from matcher.index.faiss_index import FaceIndex
from matcher.index.fileformat import Mode, read_meta
from matcher.store import index_state, repo
from matcher.store.index_state import IndexState

try:  # advisory file locks: POSIX only; elsewhere the generation check alone guards saves
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
Key = tuple[str, str]
_BY_ID_LIMIT = 5_000  # faces to catch up above which one scan of the side is cheaper than lookups by id


class IndexManager:
    def __init__(self, folder: Path, sessions: sessionmaker[Session], mode: Mode = "exact") -> None:
        self.folder = folder
        self.sessions = sessions
        self.mode = mode
        self._indexes: dict[Key, FaceIndex] = {}
        self._seen: dict[Key, IndexState] = {}  # the database row each index was last brought up to
        self._lock = threading.RLock()

    def path(self, side: str, pack: str) -> Path:
        return self.folder / f"{side}-{pack}.faiss"

    def get(self, side: str, pack: str, dim: int) -> FaceIndex:
        """The index of (side, pack), holding every face committed before this call."""
        with self._lock:
            return self._current(side, pack, dim, refresh=True)

    def add(self, side: str, pack: str, dim: int, ids: np.ndarray, vectors: np.ndarray, save: bool = True) -> int:
        """Add committed faces; ones already present (caught up from the database by an
        earlier ``get``) are skipped. Returns how many were added."""
        with self._lock:
            index = self._current(side, pack, dim, refresh=False)
            fresh = ~np.isin(ids, index.ids())
            if fresh.any():
                index.add(ids[fresh], vectors[fresh])
        if save:
            self.save(side, pack)
        return int(fresh.sum())

    def remove(self, side: str, pack: str, dim: int, ids: np.ndarray, save: bool = True) -> int:
        """Remove faces whose removal is committed; unknown ids are ignored."""
        with self._lock:
            removed = self._current(side, pack, dim, refresh=False).remove(ids)
        if save:
            self.save(side, pack)
        return removed

    def rebuild(self, side: str, pack: str, dim: int) -> FaceIndex:
        with self.sessions() as session:
            state = index_state.read(session, side, pack)
            ids, vectors = repo.side_embeddings(session, side, pack, dim)
        index = FaceIndex.build(pack, dim, ids, vectors, mode=self.mode, side=side)
        with self._lock:
            self._indexes[(side, pack)] = index
            self._seen[(side, pack)] = state
        self._write(self.path(side, pack), index, state.generation, force=True)
        return index

    def save(self, side: str, pack: str) -> None:
        """Bring the index up to the database, then write it unless the file is newer."""
        with self._lock:
            index = self._indexes.get((side, pack))
            if index is None:
                return
            self._refresh(side, pack, index)
            generation = self._seen[(side, pack)].generation
        self._write(self.path(side, pack), index, generation)

    # ---- freshness ----------------------------------------------------------------------
    def _current(self, side: str, pack: str, dim: int, refresh: bool) -> FaceIndex:
        key = (side, pack)
        if key not in self._indexes:
            self._indexes[key] = self._open(side, pack, dim)
        elif refresh:
            self._refresh(side, pack, self._indexes[key])
        return self._indexes[key]

    def _refresh(self, side: str, pack: str, index: FaceIndex) -> None:
        """Catch ``index`` up with the faces other processes committed (see module docstring)."""
        key = (side, pack)
        seen = self._seen.get(key, IndexState())
        with self.sessions() as session:
            now = index_state.read(session, side, pack)
            if now == seen:
                return
            # everything below is read after the row, so it holds at least what the row counts
            plan = self._plan(session, side, pack, index, seen, now)
            gone, wanted = plan if plan is not None else self._full_compare(session, side, pack, index)
            ids, vectors = _vectors(session, side, pack, index.dim, wanted)
        if gone.size:
            index.remove(gone)
        if ids.size:
            index.add(ids, vectors)
        if ids.size or gone.size:
            log.info("index %s-%s caught up with the database: %d face(s) added, %d removed (generation %d)", side, pack, ids.size, gone.size, now.generation)
        self._seen[key] = now

    @staticmethod
    def _plan(session: Session, side: str, pack: str, index: FaceIndex, seen: IndexState, now: IndexState) -> tuple[np.ndarray, np.ndarray] | None:
        """(ids to remove, ids to load) from the row's tail of changes and the faces appended
        since ``seen``; ``None`` when only a full comparison can tell."""
        if now.generation < seen.generation or now.max_face_id < seen.max_face_id or now.removals < seen.removals:
            return None  # went backwards: another database, or a restored one
        removed: set[int] = set()
        readded: set[int] = set()
        if now.removals != seen.removals:
            tail = index_state.changes_since(session, side, pack, seen.generation)
            if tail is None:
                return None
            removed, readded = tail
        present = index.ids()
        gone = np.array(sorted(removed), np.int64)
        gone = gone[np.isin(gone, present)]
        candidates = np.union1d(index_state.face_ids_after(session, seen.max_face_id), np.array(sorted(readded), np.int64))
        return gone, candidates[~np.isin(candidates, present)]

    @staticmethod
    def _full_compare(session: Session, side: str, pack: str, index: FaceIndex) -> tuple[np.ndarray, np.ndarray]:
        db_ids = repo.side_face_ids(session, side, pack)
        present = index.ids()
        log.info("index %s-%s: comparing all %d face ids with the database", side, pack, db_ids.size)
        return np.setdiff1d(present, db_ids), np.setdiff1d(db_ids, present)

    def _open(self, side: str, pack: str, dim: int) -> FaceIndex:
        path = self.path(side, pack)
        with self.sessions() as session:
            state = index_state.read(session, side, pack)  # before the faces: they are at least this new
        self._seen[(side, pack)] = state
        index: FaceIndex | None = None
        if path.is_file():
            try:
                index = FaceIndex.load(path, pack=pack, dim=dim)
            except (IndexCorruptError, IndexMismatchError) as exc:
                log.warning("index %s is unusable (%s); rebuilding from the database", path, exc.message)
        with self.sessions() as session:
            db_ids = repo.side_face_ids(session, side, pack)
            if index is not None and index.mode != self.mode:
                log.warning("index %s is in %s mode, settings ask for %s; rebuilding", path, index.mode, self.mode)
                index = None
            if index is not None and index.agrees_with(db_ids):
                return index
            if index is not None:
                present = index.ids()
                missing = np.setdiff1d(db_ids, present)
                if np.isin(present, db_ids).all():
                    log.warning("index %s lacks %d face(s) the database has; adding them", path, missing.size)
                    ids, vectors = _vectors(session, side, pack, dim, missing)
                    index.add(ids, vectors)
                    self._write(path, index, state.generation)
                    return index
                log.warning("index %s holds faces the database does not; rebuilding", path)
            elif path.is_file() or db_ids.size:
                log.warning("index %s missing or unusable; rebuilding from %d stored embeddings", path, db_ids.size)
            ids, vectors = repo.side_embeddings(session, side, pack, dim)
        index = FaceIndex.build(pack, dim, ids, vectors, mode=self.mode, side=side)
        self._write(path, index, state.generation, force=True)
        return index

    # ---- files --------------------------------------------------------------------------
    def _write(self, path: Path, index: FaceIndex, generation: int, force: bool = False) -> None:
        """Save under the advisory lock unless the file on disk is newer (``force``: a
        rebuild from the database, which replaces an unusable file of any generation)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path):
            on_disk = _disk_generation(path)
            if not force and on_disk is not None and on_disk > generation:
                log.info("index %s on disk is at generation %d, newer than this process's %d; not overwritten", path, on_disk, generation)
                return
            index.save(path, generation=generation)


def _vectors(session: Session, side: str, pack: str, dim: int, face_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors of those of ``face_ids`` that are template faces of side and pack: by
    id for a few, from one scan of the side for many."""
    if face_ids.size == 0:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    if face_ids.size <= _BY_ID_LIMIT:
        return index_state.template_vectors(session, side, pack, dim, face_ids)
    ids, vectors = repo.side_embeddings(session, side, pack, dim)
    keep = np.isin(ids, face_ids)
    return ids[keep], vectors[keep]


def _disk_generation(path: Path) -> int | None:
    """The generation in the file's header; ``None`` when there is no readable one."""
    if not path.is_file():
        return None
    try:
        return read_meta(path).generation
    except IndexCorruptError:
        return None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock shared by every process saving ``path``."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
