"""Reading the audit log (writing it is ``matcher.store.repo.audit``, inside each use case)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.store.tables import AuditEvent


def _event_dict(e: AuditEvent) -> dict:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "request_id": e.request_id,
        "details": e.details,
    }


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def events(self, since: dt.datetime | None = None, limit: int = 1000) -> list[dict]:
        """Oldest first from ``since``; ``at`` as ISO text (the API's and the CLI's export)."""
        with self._sessions() as session:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if since is not None:
                query = query.where(AuditEvent.at >= since)
            return [{**_event_dict(e), "at": e.at.isoformat()} for e in session.scalars(query.limit(limit))]

    def latest(self, actor: str | None = None, action: str | None = None, limit: int = 200) -> list[dict]:
        """Newest first, optionally of one actor and one action (the admin page)."""
        with self._sessions() as session:
            query = select(AuditEvent).order_by(AuditEvent.id.desc())
            if actor:
                query = query.where(AuditEvent.actor == actor)
            if action:
                query = query.where(AuditEvent.action == action)
            return [_event_dict(e) for e in session.scalars(query.limit(limit))]
