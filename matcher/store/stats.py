"""Counts the operator's numbers are read from (``/metrics`` at scrape time, readiness): read
from the database, so every worker process answers the same."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matcher.store.tables import CalibrationRow, Candidate, Embedding, Face, JobRow, Media, Record
from matcher.types import CandidateStatus


def template_counts(session: Session) -> dict[tuple[str, str], int]:
    """(side, pack) -> template faces in the database."""
    query = (
        select(Record.side, Embedding.pack, func.count())
        .select_from(Embedding)
        .join(Face, Face.id == Embedding.face_id)
        .join(Media, Media.id == Face.media_id)
        .join(Record, Record.id == Media.record_id)
        .where(Face.selected.is_(True))
        .group_by(Record.side, Embedding.pack)
    )
    return {(side, pack): n for side, pack, n in session.execute(query)}


def candidates_by_status(session: Session) -> dict[str, int]:
    return {str(st): int(n) for st, n in session.execute(select(Candidate.status, func.count()).group_by(Candidate.status))}


def oldest_open_candidate(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.min(Candidate.created_at)).where(Candidate.status == CandidateStatus.OPEN))


def records_by_side(session: Session) -> dict[str, int]:
    return {str(side): int(n) for side, n in session.execute(select(Record.side, func.count()).group_by(Record.side))}


def jobs_by_state(session: Session) -> dict[str, int]:
    return {str(state): int(n) for state, n in session.execute(select(JobRow.state, func.count()).group_by(JobRow.state))}


def latest_calibrations(session: Session) -> dict[str, dt.datetime]:
    """pack -> when its latest calibration was made."""
    rows = session.execute(select(CalibrationRow.pack, func.max(CalibrationRow.created_at)).group_by(CalibrationRow.pack)).all()
    return {pack: at for pack, at in rows if at is not None}
