"""Record templates loaded in bulk: the faces that represent each record, with their vectors,
photo dates and the age the child had in each photo where someone gave it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.store.tables import Embedding, Face, Media, Record
from matcher.vectors import stack_bytes

CHUNK = 900  # ids per IN (...) query: under SQLite's bound-parameter limit everywhere


@dataclass(frozen=True)
class Template:
    record_id: int
    face_ids: np.ndarray
    vectors: np.ndarray
    dates: tuple[dt.date | None, ...]
    ages: tuple[float | None, ...]  # age at the photo as given with the media
    dated: tuple[bool, ...] = ()  # the date is when the photo was taken (EXIF or a year given), not when it arrived


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = sorted({int(i) for i in ids})
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def load_templates(session: Session, record_ids: Iterable[int], pack: str, dim: int) -> dict[int, Template]:
    """Templates of many records in a few queries; records without template faces are absent."""
    rows_by: dict[int, list] = {}
    for chunk in _chunks(record_ids):
        rows = session.execute(
            select(Media.record_id, Face.id, Embedding.vector, Media.taken_at, Media.received_at, Media.age_at_photo)
            .join(Face, Face.media_id == Media.id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Media.record_id.in_(chunk), Embedding.pack == pack, Face.selected.is_(True))
            .order_by(Media.record_id, Face.id)
        ).all()
        for r in rows:
            rows_by.setdefault(r[0], []).append(r)
    out = {}
    for rid, rows in rows_by.items():
        dates = tuple((r[3] or r[4]).date() if (r[3] or r[4]) else None for r in rows)
        dated = tuple(r[3] is not None for r in rows)
        out[rid] = Template(rid, np.array([r[1] for r in rows], np.int64), stack_bytes((r[2] for r in rows), dim), dates, tuple(r[5] for r in rows), dated)
    return out


def load_records(session: Session, record_ids: Iterable[int]) -> dict[int, Record]:
    out: dict[int, Record] = {}
    for chunk in _chunks(record_ids):
        out.update({r.id: r for r in session.scalars(select(Record).where(Record.id.in_(chunk)))})
    return out


def face_owners(session: Session, face_ids: Iterable[int]) -> dict[int, int]:
    """face id -> record id, for many faces."""
    out: dict[int, int] = {}
    for chunk in _chunks(face_ids):
        out.update(dict(session.execute(select(Face.id, Media.record_id).join(Media, Media.id == Face.media_id).where(Face.id.in_(chunk))).all()))
    return out


def side_owners(session: Session, side: str, pack: str) -> tuple[np.ndarray, np.ndarray]:
    """(face ids sorted, record id of each) for the template faces of one side."""
    rows = session.execute(
        select(Face.id, Media.record_id)
        .join(Media, Media.id == Face.media_id)
        .join(Record, Record.id == Media.record_id)
        .join(Embedding, Embedding.face_id == Face.id)
        .where(Record.side == side, Embedding.pack == pack, Face.selected.is_(True))
        .order_by(Face.id)
    ).all()
    return np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64)


def stack(templates: list[Template], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """All faces of several templates as one matrix, and each template's start row."""
    if not templates:
        return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
    sizes = np.array([len(t.face_ids) for t in templates], np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return np.concatenate([t.vectors for t in templates]).astype(np.float32, copy=False), starts


def count_records_with_faces(session: Session, side: str, pack: str) -> int:
    """Records of one side with at least one template face for this pack (the gallery size N)."""
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count(func.distinct(Media.record_id)))
            .join(Record, Record.id == Media.record_id)
            .join(Face, Face.media_id == Media.id)
            .join(Embedding, Embedding.face_id == Face.id)
            .where(Record.side == side, Embedding.pack == pack, Face.selected.is_(True))
        )
        or 0
    )
