"""The append-only audit log, the head of its hash chain, and the tombstones of erased records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    DateTime,
    Index,
    Integer,
    String,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from matcher.store.base import Base, utcnow


class AuditEvent(Base):
    """Append-only: who did what to which object, when (invariant 4, docs/architecture.md)."""

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


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _audit_is_append_only(*_args) -> None:
    raise RuntimeError("the audit log is append-only")


class Erasure(Base):
    """Tombstone of an erased record: content hashes that must not come back unasked (invariant 5, docs/architecture.md)."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(8))  # Side
    external_id: Mapped[str] = mapped_column(String(128))
    media_sha256: Mapped[list] = mapped_column(JSON, default=list)
    erased_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(128))
    # every blob the erasure removes (originals and face crops): a crash between the commit
    # and the deletion is finished from this list (protection.fsck)
    blob_sha256: Mapped[list | None] = mapped_column(JSON)
