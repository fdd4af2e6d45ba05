"""Web page sessions in the database (``web_sessions``), so a restart or a second API
worker does not sign anyone out.

The cookie carries a random id (32 bytes); the row is keyed by its sha256, so the table
alone signs nobody in. A row remembers who signed in (user, token, role), the session's
CSRF token and the one-time messages for the next page. Whether the token still holds is
checked on every request by the pages (``AccountService.still_valid``): revoking it, its
expiry, disabling the account or changing its role ends the session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from matcher.store.db import retrying
from matcher.store.tables import User, WebSessionRow, utcnow
from matcher.types import Principal

IDLE = dt.timedelta(hours=8)
MAX_AGE = dt.timedelta(hours=24)
TOUCH_EVERY = dt.timedelta(minutes=1)  # "last seen" is written at most this often


@dataclass(frozen=True)
class StoredSession:
    id: str
    principal: Principal
    csrf: str
    created: dt.datetime
    seen: dt.datetime
    flash: tuple[str, ...]


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSessions:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, principal: Principal) -> StoredSession:
        sid, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), utcnow()

        def write() -> None:
            with self._sessions.begin() as session:
                session.execute(delete(WebSessionRow).where((WebSessionRow.seen_at < now - IDLE) | (WebSessionRow.created_at < now - MAX_AGE)))
                session.add(
                    WebSessionRow(
                        id_sha256=_key(sid),
                        user_id=principal.user_id,
                        token_id=principal.token_id,
                        role=principal.role,
                        csrf=csrf,
                        created_at=now,
                        seen_at=now,
                        flash=[],
                    )
                )

        retrying(write)
        return StoredSession(sid, principal, csrf, now, now, ())

    def get(self, session_id: str | None) -> StoredSession | None:
        """The live session of a cookie's id, or None (unknown, idle or too old)."""
        if not session_id or len(session_id) > 128:
            return None
        key, now = _key(session_id), utcnow()
        with self._sessions() as session:
            found = session.execute(select(WebSessionRow, User.name).join(User, User.id == WebSessionRow.user_id).where(WebSessionRow.id_sha256 == key)).first()
        if found is None:
            return None
        row, name = found
        if now - row.seen_at > IDLE or now - row.created_at > MAX_AGE:
            self.drop(session_id)
            return None
        if now - row.seen_at > TOUCH_EVERY:
            retrying(lambda: self._write(key, seen_at=now))
        return StoredSession(session_id, Principal(row.user_id, name, row.role, row.token_id), row.csrf, row.created_at, row.seen_at, tuple(row.flash or ()))

    def set_flash(self, session_id: str, messages: list[str]) -> None:
        retrying(lambda: self._write(_key(session_id), flash=list(messages)))

    def drop(self, session_id: str | None) -> None:
        if not session_id:
            return

        def write() -> None:
            with self._sessions.begin() as session:
                session.execute(delete(WebSessionRow).where(WebSessionRow.id_sha256 == _key(session_id)))

        retrying(write)

    def _write(self, key: str, **values) -> None:
        with self._sessions.begin() as session:
            session.execute(update(WebSessionRow).where(WebSessionRow.id_sha256 == key).values(**values))
