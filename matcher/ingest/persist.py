"""Storing one analysed photo or video under a record: blobs first, then rows.

Shared by batch indexing (``indexer``) and uploads (API). The caller owns the transaction
and adds the returned template faces to the index after it commits.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from matcher.ingest.analysis import PhotoResult
from matcher.store import index_state
from matcher.store.blobs import BlobStore
from matcher.store.tables import Embedding, Face, Media, Record
from matcher.types import MediaKind

GOOD_QUALITY = 0.3


def template_face(faces) -> int | None:
    """Index of the face that represents the record in a photo of one child: the largest
    face of acceptable quality, else the largest (faces come largest first)."""
    if not faces:
        return None
    return next((i for i, f in enumerate(faces) if f.quality >= GOOD_QUALITY), 0)


def write_blobs(blobs: BlobStore, result: PhotoResult) -> None:
    """Original and face crops, before any row points at them (invariant 2)."""
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
