"""The one way analysed photos and videos are stored, for uploads (``services.records``), the
video job (``jobs.kinds``, through the upload) and the batch indexer (``ingest.indexer``):

1. blobs first (the original, then its face crops), so no row ever points at a missing file;
2. then the rows (media, faces, embeddings) in one transaction (``store_media``, called by
   the caller's ``rows`` inside ``MediaWriter.write``);
3. after the commit, the template faces into the side's index (``MediaWriter.index``, the
   one place that adds stored faces to an index).

A failure before the commit leaves no row; with ``cleanup`` the blobs it wrote that nothing
points at are deleted at once (an upload), otherwise a re-run uses them (the batch indexer,
resumable) and ``matcher fsck`` removes what is left.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.index.manager import IndexManager
from matcher.ingest.analysis import PhotoResult
from matcher.store import blobrefs, index_state
from matcher.store.blobs import BlobStore
from matcher.store.inflight import UploadJournal
from matcher.store.tables import Embedding, Face, Media, Record
from matcher.types import MediaKind
from matcher.vectors import stack_bytes

T = TypeVar("T")
Templates = list[tuple[int, bytes]]  # (face id, float32 vector bytes) of template faces

GOOD_QUALITY = 0.3


def template_face(faces) -> int | None:
    """Index of the face that represents the record in a photo of one child: the largest
    face of acceptable quality, else the largest (faces come largest first)."""
    if not faces:
        return None
    return next((i for i, f in enumerate(faces) if f.quality >= GOOD_QUALITY), 0)


def write_blobs(blobs: BlobStore, result: PhotoResult) -> None:
    """Original and face crops, before any row points at them (invariant 2, docs/architecture.md)."""
    blobs.put(result.data)
    for face in result.faces:
        blobs.put(face.crop_jpeg)


def store_media(
    session: Session, record: Record, result: PhotoResult, pack: str, original_name: str | None, auto_select: bool = True, age_at_photo: float | None = None
) -> tuple[Media, list[tuple[int, bytes]]]:
    """Media, faces and embeddings rows. Returns the media and the (face id, vector) of its
    template faces: a video's main track, or a photo's chosen face when ``auto_select``
    (a family photo with several faces waits for the family to pick)."""
    if result.faces:  # first: the face ids given below come after it (see store.index_state)
        index_state.bump(session, record.side, pack)
    media = Media(
        record_id=record.id,
        sha256=result.sha256,
        kind=result.kind,
        format=result.format,
        size_bytes=result.size_bytes,
        width=result.width,
        height=result.height,
        original_name=original_name,
        taken_at=result.taken_at,
        face_count=len(result.faces),
        age_at_photo=age_at_photo,
    )
    session.add(media)
    session.flush()
    chosen = template_face(result.faces) if auto_select else None
    faces = []
    for rank, f in enumerate(result.faces):
        selected = f.track == result.main_track if result.kind == MediaKind.VIDEO else rank == chosen
        face = Face(
            media_id=media.id,
            x1=f.box[0],
            y1=f.box[1],
            x2=f.box[2],
            y2=f.box[3],
            landmarks=f.landmarks,
            det_score=f.det_score,
            quality=f.quality,
            selected=selected,
            crop_sha256=hashlib.sha256(f.crop_jpeg).hexdigest(),
            frame_time=f.frame_time,
            track=f.track,
        )
        face.embeddings.append(Embedding(pack=pack, dim=len(f.embedding) // 4, vector=f.embedding))
        session.add(face)
        faces.append((face, f.embedding))
    session.flush()
    template = [(face.id, vector) for face, vector in faces if face.selected]
    if template:  # matched by the next matching run, even if this process dies first
        record.needs_match = True
        index_state.bump(session, record.side, pack, max_face_id=max(face_id for face_id, _ in template))
    return media, template


def blob_hashes(result: PhotoResult) -> set[str]:
    """The blobs ``write_blobs`` writes for a result: its original and its face crops."""
    return {result.sha256, *(hashlib.sha256(f.crop_jpeg).hexdigest() for f in result.faces)}


def stored_templates(session: Session, media_id: int, pack: str) -> Templates:
    """The template faces of media already stored (a re-run that finds its media committed)."""
    rows = session.execute(
        select(Face.id, Embedding.vector).join(Embedding).where(Face.media_id == media_id, Face.selected.is_(True), Embedding.pack == pack).order_by(Face.id)
    ).all()
    return [(face_id, vector) for face_id, vector in rows]


class MediaWriter:
    """Blobs, then rows in one transaction, then the index (see the module text)."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, indexes: IndexManager, journal: UploadJournal | None = None) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._indexes = indexes
        self._journal = journal

    def write(self, results: Sequence[PhotoResult], rows: Callable[[Session], tuple[T, Templates]], *, cleanup: bool = False) -> tuple[T, Templates]:
        """Write the results' blobs, then run ``rows(session)`` in one transaction; it stores
        the media (``store_media``) and returns ``(value, template faces)``. With ``cleanup``
        the blobs are journalled while the transaction runs (a process killed before the
        commit has them removed at its next start, ``store.inflight``) and, when anything
        fails before the commit, those no row points at are deleted here. The caller adds
        the template faces to the index (``index``) once it has what it needs."""
        written = set().union(*(blob_hashes(r) for r in results)) if results else set()
        holding = self._journal.holding(written) if cleanup and self._journal is not None else contextlib.nullcontext()
        with holding:
            try:
                for result in results:
                    write_blobs(self._blobs, result)  # a crop that fails to write (disk full) takes the original with it
                with self._sessions.begin() as session:
                    return rows(session)
            except BaseException:
                if cleanup:
                    self.delete_unreferenced(written)
                raise

    def index(self, side: str, pack: str, dim: int, templates: Templates, save: bool = True) -> int:
        """Add committed template faces to the side's index (through the manager: a search in
        another thread may already have caught them up). Returns how many were new."""
        if not templates:
            return 0
        ids = np.array([face_id for face_id, _ in templates], np.int64)
        return self._indexes.add(side, pack, dim, ids, stack_bytes((vector for _, vector in templates), dim), save=save)

    def delete_unreferenced(self, hashes: Iterable[str]) -> None:
        """Delete the blobs no row points at any more (media, face crop, sighting source or crop)."""
        with self._sessions() as session:
            for sha in hashes:
                if not blobrefs.in_use(session, sha):
                    self._blobs.delete(sha)
