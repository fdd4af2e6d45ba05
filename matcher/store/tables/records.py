"""Records and what they hold: media (one uploaded photo or video, its bytes in the blob
store under ``sha256``), faces (one detection in a media) and embeddings (one face's vector
for one model pack)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from matcher.store.base import Base, utcnow
from matcher.types import MediaKind, RecordStatus


class Record(Base):
    """A child in care or a missing-child report (``side``: a ``matcher.types.Side``).

    String columns hold the ``matcher.types`` enums' values (``StrEnum``: no schema change)."""

    __tablename__ = "records"
    # ids are never reused (SQLite AUTOINCREMENT): an erased record's number must not come
    # back as someone else's in audit rows or index ids
    __table_args__ = (UniqueConstraint("side", "external_id", name="uq_record_side_external"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(8), index=True)  # Side
    external_id: Mapped[str] = mapped_column(String(128))  # shelter record number / report number
    name: Mapped[str | None] = mapped_column(String(256))
    sex: Mapped[str | None] = mapped_column(String(16))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    shelter: Mapped[str | None] = mapped_column(String(256))
    event_on: Mapped[dt.date | None] = mapped_column(Date)  # child: date found; report: date last seen
    event_at: Mapped[str | None] = mapped_column(String(256))  # child: place found; report: place last seen
    languages: Mapped[str | None] = mapped_column(String(256))
    notes: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(Text)  # report only; staff eyes only
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.OPEN)  # RecordStatus
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # set with every change to the template, cleared when the matching chunk that handled it commits
    needs_match: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    media: Mapped[list[Media]] = relationship(back_populates="record", cascade="all, delete-orphan")

    @property
    def known_birth_year(self) -> int | None:
        """The birth year, or the year of the birth date when only that was given."""
        return self.birth_year or (self.birth_date.year if self.birth_date else None)


class Media(Base):
    """One photo or video of one record; bytes live in the blob store under ``sha256``."""

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("record_id", "sha256", name="uq_media_record_sha"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8), default=MediaKind.PHOTO)  # MediaKind
    format: Mapped[str | None] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    original_name: Mapped[str | None] = mapped_column(String(512))
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # EXIF date, or given
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    age_at_photo: Mapped[float | None] = mapped_column(Float)  # years, as the family or staff gave it
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # original removed by retention (crops stay)

    record: Mapped[Record] = relationship(back_populates="media")
    faces: Mapped[list[Face]] = relationship(back_populates="media", cascade="all, delete-orphan")


class Face(Base):
    __tablename__ = "faces"
    __table_args__: ClassVar[dict] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), index=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list] = mapped_column(JSON)
    det_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    frame_time: Mapped[float | None] = mapped_column(Float)  # seconds, video only
    track: Mapped[int | None] = mapped_column(Integer)  # video only
    selected: Mapped[bool] = mapped_column(Boolean, default=False)  # part of the record's template
    crop_sha256: Mapped[str | None] = mapped_column(String(64))

    media: Mapped[Media] = relationship(back_populates="faces")
    embeddings: Mapped[list[Embedding]] = relationship(back_populates="face", cascade="all, delete-orphan")


class Embedding(Base):
    """float32, L2-normalised, tagged with its model pack (invariant 3, docs/architecture.md)."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("face_id", "pack", name="uq_embedding_face_pack"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(64), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    face: Mapped[Face] = relationship(back_populates="embeddings")
