"""Matching runs: which records still need matching, in committed chunks, one chunk at a
time across processes."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from matcher.review.matching import Matcher
from matcher.review.upkeep import current_calibration
from matcher.store.tables import Record


def match_pending(services, record_ids: list[int], pack: str | None = None) -> int:
    """Mark ``record_ids`` as needing a match, then match every pending record in committed
    chunks of ``MATCHER_MATCH_CHUNK``, in id order. A run killed part-way loses at most the
    chunk in flight; the next run (any run) finishes the rest and ends with the same
    candidates as an uninterrupted one. Returns how many candidates were touched."""
    matcher = Matcher(services, pack)
    sessions, chunk = services.sessions, services.settings.match_chunk
    with sessions.begin() as session:
        for start in range(0, len(record_ids), 900):
            session.execute(update(Record).where(Record.id.in_(record_ids[start : start + 900])).values(needs_match=True))
    touched, last = 0, 0
    while True:
        with sessions.begin() as session:
            serialise(session)
            ids = list(session.scalars(select(Record.id).where(Record.needs_match.is_(True), Record.id > last).order_by(Record.id).limit(chunk)))
            if not ids:
                return touched
            calibration = current_calibration(session, services, matcher.pack, matcher.dim, matcher.prior_pair, matcher.norm, matcher.k)
            touched += matcher.match(session, ids, calibration)
            last = ids[-1]


def serialise(session: Session) -> None:
    """One matching chunk at a time across processes (API workers, `matcher index`, `matcher
    worker`): cohorts and shortlists are read, changed and written back, so two chunks must not
    interleave. PostgreSQL: a transaction-scoped advisory lock; SQLite: take the database's
    write lock now (a no-op UPDATE) instead of at the first write, so a second process waits
    before it reads."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727272)"))
    else:
        session.execute(update(Record).where(Record.id < 0).values(needs_match=False))
