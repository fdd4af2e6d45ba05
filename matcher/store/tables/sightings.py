"""Sighting tables: a swept source, the sightings it produced, their best-frame
crops and the reviewers' decisions. Registered on ``models.Base`` (imported from there)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from matcher.store.base import Base, utcnow
from matcher.types import CandidateKind, CandidateStatus


class SightingSource(Base):
    """One swept file (video or field photo) kept while a sighting uses it: the
    original is a blob under ``sha256`` (sealed like other media); the file is erased when
    no sighting that still needs it is left (``sightings.persist``)."""

    __tablename__ = "sighting_sources"
    __table_args__ = (UniqueConstraint("sha256", name="uq_sighting_source_sha"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # MediaKind
    file_name: Mapped[str | None] = mapped_column(String(512))
    format: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    taken_on: Mapped[dt.date | None] = mapped_column(Date)  # when the footage was shot, if known
    place: Mapped[str | None] = mapped_column(String(256))  # where, as the person sweeping said
    swept_by: Mapped[str] = mapped_column(String(128))
    swept_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Sighting(Base):
    """A record (an open report, or a registered child) seen in a swept source: a lead of its
    own kind (``CandidateKind.SIGHTING``), not a (report, child) pair. One per (source,
    record); ``evidence`` lists the tracks that matched. Confirming it does not close the
    record. ``source_sha256`` stays when the source is erased, so a rejected sighting does
    not come back from the same file."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("source_sha256", "record_id", name="uq_sighting_source_record"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=CandidateKind.SIGHTING)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sighting_sources.id", ondelete="SET NULL"), index=True)
    source_sha256: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    side: Mapped[str] = mapped_column(String(8))  # the record's Side
    pack: Mapped[str] = mapped_column(String(64))
    track: Mapped[int] = mapped_column(Integer)  # the best-matching track (video) or face (photo)
    span_start: Mapped[float | None] = mapped_column(Float)  # seconds; None for a photo
    span_end: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # what is ranked (normalised with snorm)
    raw_score: Mapped[float] = mapped_column(Float)  # best face pair cosine
    fmr: Mapped[float | None] = mapped_column(Float)
    fpir: Mapped[float | None] = mapped_column(Float)
    plausible: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=CandidateStatus.OPEN, index=True)  # CandidateStatus
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    swept_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    faces: Mapped[list[SightingFace]] = relationship(cascade="all, delete-orphan", order_by="SightingFace.id")


class SightingFace(Base):
    """One best frame of a sighting: the aligned crop (a blob) and where it was seen."""

    __tablename__ = "sighting_faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"), index=True)
    track: Mapped[int] = mapped_column(Integer)
    frame_time: Mapped[float | None] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # best cosine of this face against the record
    crop_sha256: Mapped[str] = mapped_column(String(64))


class SightingDecision(Base):
    __tablename__ = "sighting_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))  # Verdict
    reviewer: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
