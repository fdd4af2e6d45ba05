"""Keeps one FaceIndex per (side, pack) in agreement with the database.

The database is the source of truth (invariant 1). On first use an index file is loaded
and checked: corrupt, foreign (other pack/dim) or unreadable files are rebuilt from stored
embeddings; a file that lacks some of the database's faces (an interrupted run) is caught
up; one holding faces the database no longer has is rebuilt. Each case is logged.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import IndexCorruptError, IndexMismatchError
from matcher.index.faiss_index import FaceIndex
from matcher.index.fileformat import Mode
from matcher.store import repo

log = logging.getLogger(__name__)


class IndexManager:
    def __init__(self, folder: Path, sessions: sessionmaker[Session], mode: Mode = "exact") -> None:
        self.folder = folder
        self.sessions = sessions
        self.mode = mode
        self._indexes: dict[tuple[str, str], FaceIndex] = {}
        self._lock = threading.Lock()

    def path(self, side: str, pack: str) -> Path:
        return self.folder / f"{side}-{pack}.faiss"

    def get(self, side: str, pack: str, dim: int) -> FaceIndex:
        with self._lock:
            key = (side, pack)
            if key not in self._indexes:
                self._indexes[key] = self._open(side, pack, dim)
            return self._indexes[key]

    def _open(self, side: str, pack: str, dim: int) -> FaceIndex:
        path = self.path(side, pack)
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
                    ids, vectors = repo.side_embeddings(session, side, pack, dim)
                    keep = np.isin(ids, missing)
                    index.add(ids[keep], vectors[keep])
                    index.save(path)
                    return index
                log.warning("index %s holds faces the database does not; rebuilding", path)
            elif path.is_file() or db_ids.size:
                log.warning("index %s missing or unusable; rebuilding from %d stored embeddings", path, db_ids.size)
            ids, vectors = repo.side_embeddings(session, side, pack, dim)
        index = FaceIndex.build(pack, dim, ids, vectors, mode=self.mode, side=side)
        index.save(path)
        return index

    def add(self, side: str, pack: str, dim: int, ids: np.ndarray, vectors: np.ndarray, save: bool = True) -> int:
        """Add committed faces; ones already present (an index opened after the commit
        was rebuilt from the database and holds them) are skipped. Returns how many were added."""
        index = self.get(side, pack, dim)
        fresh = ~np.isin(ids, index.ids())
        if fresh.any():
            index.add(ids[fresh], vectors[fresh])
        if save:
            index.save(self.path(side, pack))
        return int(fresh.sum())

    def rebuild(self, side: str, pack: str, dim: int) -> FaceIndex:
        with self.sessions() as session:
            ids, vectors = repo.side_embeddings(session, side, pack, dim)
        index = FaceIndex.build(pack, dim, ids, vectors, mode=self.mode, side=side)
        index.save(self.path(side, pack))
        with self._lock:
            self._indexes[(side, pack)] = index
        return index

    def save(self, side: str, pack: str) -> None:
        with self._lock:
            index = self._indexes.get((side, pack))
        if index is not None:
            index.save(self.path(side, pack))
