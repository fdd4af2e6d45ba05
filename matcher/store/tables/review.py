"""What matching and review write: candidates, reviewers' decisions, the calibration of a
pack, and each record's cohort of best scores."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from matcher.store.base import Base, PackedTop, utcnow
from matcher.types import CandidateKind, CandidateStatus


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
    top: Mapped[list] = mapped_column(PackedTop, default=list)  # packed, not JSON: read and rewritten all the time
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
