"""SQLAlchemy 2 tables. The database is the source of truth; FAISS files are derived.

Vocabulary (DESIGN.md): a **record** is a child (registered by a shelter) or a report
(filed by a family); **media** is one uploaded photo or video, its bytes stored once by
sha256 in the blob store; a **face** is one detection in a media; an **embedding** is one
face's vector for one model pack. Candidates, decisions, audit events, users and tokens
start minimal and are filled by later issues.
"""

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
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from matcher.types import CandidateKind, CandidateStatus, MediaKind, RecordStatus


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


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
    """float32, L2-normalised, tagged with its model pack (invariant 3)."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("face_id", "pack", name="uq_embedding_face_pack"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(64), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    face: Mapped[Face] = relationship(back_populates="embeddings")


class Candidate(Base):
    """A (report, child) pair — or a within-side duplicate — awaiting human review."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("kind", "report_id", "child_id", name="uq_candidate_pair"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=CandidateKind.MATCH)  # CandidateKind
    report_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    fmr: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=CandidateStatus.OPEN)  # CandidateStatus
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    # ranking facts kept as columns so matching can read a report's list without the evidence
    raw_score: Mapped[float | None] = mapped_column(Float)  # best face pair (score may be normalised)
    # what orders this report's list (MATCHER_RANK_SCORE); ``score`` is the cross-report S-norm
    # that the false-match rate, the strong badge and the flat queue rest on
    rank_score: Mapped[float | None] = mapped_column(Float)
    plausible: Mapped[bool | None] = mapped_column(Boolean)
    name_level: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))  # Verdict
    reviewer: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    score_at_decision: Mapped[float | None] = mapped_column(Float)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    """Append-only: who did what to which object, when (invariant 4)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # Role
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # tamper evidence (store.auditchain): set only by store.repo.audit
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditChain(Base):
    """The audit chain's head (one row, id 1): the newest row's hash and the row count.
    Writers lock it (``repo.audit``), so two transactions never chain to the same row."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, default=0)


class Erasure(Base):
    """Tombstone of an erased record: content hashes that must not come back unasked (invariant 5)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(8))  # Side
    external_id: Mapped[str] = mapped_column(String(128))
    media_sha256: Mapped[list] = mapped_column(JSON, default=list)
    erased_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(128))
    # every blob the erasure removes (originals and face crops): a crash between the commit
    # and the deletion is finished from this list (services.fsck)
    blob_sha256: Mapped[list | None] = mapped_column(JSON)


class CalibrationRow(Base):
    """Impostor score distribution of one model pack, measured on the gallery (review.calibration)."""

    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pack: Mapped[str] = mapped_column(String(64), index=True)
    n_records: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CohortRow(Base):
    """A record's K best record-pair scores against one side (``review.cohorts``), kept for
    score normalisation and the rank score: ``top`` is ``[[record_id, score], ...]``, best first."""

    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("record_id", "pack", "against", name="uq_cohort"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    pack: Mapped[str] = mapped_column(String(64))
    against: Mapped[str] = mapped_column(String(8))  # the side the scores were taken against
    top: Mapped[list] = mapped_column(JSON, default=list)
    mean: Mapped[float] = mapped_column(Float)
    std: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    kth: Mapped[float] = mapped_column(Float)  # the K-th best score (-1 while fewer than K): cheap "does a new score enter?"
    # the rank cohort (``CohortSizes.rank_k`` best of ``top``; the list holds the larger of both sizes)
    rank_mean: Mapped[float | None] = mapped_column(Float)
    rank_std: Mapped[float | None] = mapped_column(Float)
    rank_n: Mapped[int | None] = mapped_column(Integer)
    # a report's rows against the children only: the best rank score of a child its searches
    # met and its list did not keep; a list whose last member falls below it is searched again
    floor: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # one of types.USER_ROLES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # never the token itself
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(*_args) -> None:
    raise RuntimeError("the audit log is append-only")


class IndexGeneration(Base):
    """How far the template faces of one (side, pack) have changed (``store.index_state``):
    every process compares this row with what its in-memory FAISS index was built from
    before it searches or matches (``index.manager``). Bumped in the transaction that
    changes the faces: ``generation`` on every change, ``max_face_id`` when faces are
    appended, ``removals`` on any change that is not a plain append (erasure, a family
    picking another face)."""

    __tablename__ = "index_generations"

    side: Mapped[str] = mapped_column(String(8), primary_key=True)  # Side
    pack: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    max_face_id: Mapped[int] = mapped_column(Integer, default=0)
    removals: Mapped[int] = mapped_column(Integer, default=0)
    # the latest non-append changes, oldest first: [{"g": generation, "removed": [face ids],
    # "added": [face ids]}]; complete for every generation above ``changes_from``
    changes: Mapped[list | None] = mapped_column(JSON)
    changes_from: Mapped[int] = mapped_column(Integer, default=0)


class JobRow(Base):
    """One piece of background work (``services.jobs``): the queue and its status record in
    one row. ``payload`` holds what the work needs (a stored blob's sha256, a record id, a
    server folder); workers claim ``queued`` rows, heartbeat while ``running``, and end them
    ``done`` or ``failed``. A row whose heartbeat stops is re-queued (``attempts`` counts
    the starts)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id", ondelete="SET NULL"), index=True)  # erased: the job fails and cleans up
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # types.JobStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_by: Mapped[str | None] = mapped_column(String(200))  # worker identity: host/pid-namespace/pid
    progress: Mapped[dict | None] = mapped_column(JSON)  # {"done", "total", "stage"} while it runs (JobService.set_progress)


# tables kept in their own modules (registered on Base.metadata by importing them here)
from matcher.store import shared_state as _shared_state  # noqa: E402, F401
from matcher.store import sighting_tables as _sighting_tables  # noqa: E402, F401
from matcher.store.sighting_tables import Sighting, SightingDecision, SightingFace, SightingSource  # noqa: E402, F401
