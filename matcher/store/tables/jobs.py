"""Background work: one row is both the queue entry and its status record."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from matcher.store.base import Base, utcnow


class JobRow(Base):
    """One piece of background work (``jobs.queue``): the queue and its status record in
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
