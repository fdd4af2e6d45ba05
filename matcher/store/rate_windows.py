"""Per-token rate limits kept in the database: a sliding one-minute window per (token,
action), so every API worker (``matcher serve --workers N``) counts the same requests and
a restart does not hand out a fresh minute.

One row per (token, action) holds the epoch seconds of the last minute's hits. A check is
one short transaction whose first statement writes that row (insert-if-missing), so it
holds the row's lock — SQLite's write lock, PostgreSQL's row lock via ``FOR UPDATE`` —
while it prunes, counts and appends: two workers never both let the last allowed request
through.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import RateLimited
from matcher.store.db import retrying
from matcher.store.tables import RateWindow

WINDOW_S = 60.0


def _insert_if_missing(session: Session, token_id: int, action: str, now: float) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(RateWindow).values(token_id=token_id, action=action, hits=[], updated_at=now).on_conflict_do_nothing())


def take(session: Session, token_id: int, action: str, per_minute: int, now: float) -> bool:
    """Count one hit if fewer than ``per_minute`` fell in the last minute; False otherwise."""
    _insert_if_missing(session, token_id, action, now)
    row = session.scalars(select(RateWindow).where(RateWindow.token_id == token_id, RateWindow.action == action).with_for_update()).one()
    hits = [t for t in (row.hits or []) if now - t < WINDOW_S]
    allowed = len(hits) < per_minute
    if allowed:
        hits.append(now)
    row.hits = hits
    row.updated_at = now
    return allowed


class RateLimits:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def check(self, token_id: int, action: str, per_minute: int) -> None:
        """Raise ``RateLimited`` (429) past ``per_minute`` requests of ``action`` in a minute."""

        def attempt() -> bool:
            with self._sessions.begin() as session:
                return take(session, token_id, action, per_minute, time.time())

        if not retrying(attempt):
            raise RateLimited(f"Too many {action} requests; at most {per_minute} a minute. Try again shortly.")
