"""Matching runs: which records still need matching, in committed chunks, one chunk at a
time across processes."""

from __future__ import annotations

import gc
from contextlib import contextmanager

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from matcher.review.matching import Matcher
from matcher.review.upkeep import calibration_and_refresh
from matcher.store.tables import Candidate, Record
from matcher.types import CandidateKind, RecordStatus, Side

GC_THRESHOLD = 50_000  # allocations between young-generation collections during a run (Python's default: 700)


@contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD):
    """Python's cyclic garbage collector less often while a run builds and drops hundreds of
    thousands of small lists (cohorts, candidates) beside a large, long-lived heap: with the
    default threshold a third of a 10^4-record run's CPU went to collections that free almost
    nothing (reference counting frees the rest). Restored afterwards; process-wide while it
    lasts, which only delays other threads' collections."""
    old = gc.get_threshold()
    gc.set_threshold(max(threshold, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def match_pending(services, record_ids: list[int], pack: str | None = None) -> int:
    """Mark ``record_ids`` as needing a match, then match every pending record in committed
    chunks of ``MATCHER_MATCH_CHUNK``, in id order. A run killed part-way loses at most the
    chunk in flight; the next run (any run) finishes the rest and ends with the same
    candidates as an uninterrupted one. Then every open report whose list holds a child
    whose cohort moved is re-ranked (``relist``). Returns how many candidates were touched."""
    with fewer_collections():
        return _match_pending(services, record_ids, pack)


def _match_pending(services, record_ids: list[int], pack: str | None = None) -> int:
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
                break
            touched += matcher.match(session, ids, _calibration(session, services, matcher))
            last = ids[-1]
    lists = open_reports(services) if matcher.refreshed else lists_holding(services, matcher.pack, matcher.changed)
    return touched + relist(services, matcher, lists)


def relist(services, matcher: Matcher, report_ids: set[int]) -> int:
    """Re-rank these reports' lists under the current cohorts (``Matcher.relist``), in
    committed chunks, and search again for those whose list may miss a child."""
    touched, ids = 0, sorted(report_ids)
    chunk = services.settings.match_chunk
    for start in range(0, len(ids), chunk):
        with services.sessions.begin() as session:
            serialise(session)
            changed, again = matcher.relist(session, set(ids[start : start + chunk]))
            touched += changed
            if again:
                touched += matcher.research(session, again, _calibration(session, services, matcher))
    return touched


def open_reports(services) -> set[int]:
    with services.sessions() as session:
        return set(session.scalars(select(Record.id).where(Record.side == Side.REPORT, Record.status == RecordStatus.OPEN)))


def research_all(services, pack: str | None = None) -> int:
    """Every open report's list rebuilt from a new search (after ``matcher reindex``)."""
    with fewer_collections():
        return _research_all(services, pack)


def _research_all(services, pack: str | None) -> int:
    matcher = Matcher(services, pack)
    ids = sorted(open_reports(services))
    touched = 0
    for start in range(0, len(ids), services.settings.match_chunk):
        with services.sessions.begin() as session:
            serialise(session)
            touched += matcher.research(session, ids[start : start + services.settings.match_chunk], _calibration(session, services, matcher))
    return touched


def lists_holding(services, pack: str, records: set[int]) -> set[int]:
    """Open reports with a match candidate (of this pack) on one of ``records``, and those
    of ``records`` that are open reports themselves (their own cohort orders an S-norm list)."""
    if not records:
        return set()
    ids, out = sorted(records), set()
    with services.sessions() as session:
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            out.update(
                session.scalars(
                    select(Candidate.report_id).where(Candidate.kind == CandidateKind.MATCH, Candidate.pack == pack, Candidate.child_id.in_(part)).distinct()
                )
            )
            out.update(session.scalars(select(Record.id).where(Record.id.in_(part), Record.side == Side.REPORT)))
    return out


def _calibration(session: Session, services, matcher: Matcher):
    calibration, refreshed = calibration_and_refresh(session, services, matcher.pack, matcher.dim, matcher.prior_pair, matcher.norm, matcher.sizes)
    matcher.refreshed |= refreshed  # every cohort moved: every list is re-ranked after the run
    return calibration


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
