"""The admin "model health" page's data: candidates per review status, the latest
calibration of the service's pack, and its two plots (drawn by ``matcher.evaluation.plots``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.evaluation.plots import decided_scores_png, impostors_png
from matcher.review.calibration import Calibration
from matcher.store.models import Candidate, CalibrationRow
from matcher.types import CandidateStatus

DECIDED = (CandidateStatus.CONFIRMED, CandidateStatus.REJECTED)
# the order the page lists them in
STATUS_ORDER = (CandidateStatus.OPEN, CandidateStatus.CONFIRMED, CandidateStatus.REJECTED, CandidateStatus.UNSURE, CandidateStatus.AWAITING_SECOND)


def _latest_calibration(session: Session, pack: str) -> CalibrationRow | None:
    return session.scalar(select(CalibrationRow).where(CalibrationRow.pack == pack).order_by(CalibrationRow.id.desc()).limit(1))


class HealthService:
    def __init__(self, services) -> None:
        self.services = services

    def summary(self) -> dict:
        """``counts`` (candidates per status) and ``calibration`` (records, pairs, at) or None."""
        with self.services.sessions() as session:
            counts = {str(st): 0 for st in STATUS_ORDER}
            for (st,) in session.execute(select(Candidate.status)):
                counts[st] = counts.get(st, 0) + 1
            cal = _latest_calibration(session, self.services.settings.pack)
            calibration = {"records": cal.n_records, "pairs": cal.data.get("n_pairs"), "at": cal.created_at} if cal else None
        return {"counts": counts, "calibration": calibration}

    def decided_scores(self) -> list[tuple[str, float]]:
        """(status, score) of every confirmed or rejected candidate."""
        with self.services.sessions() as session:
            return [(st, score) for st, score in session.execute(select(Candidate.status, Candidate.score).where(Candidate.status.in_(DECIDED)))]

    def calibration(self) -> Calibration | None:
        """The latest calibration of the service's pack, if it has impostor scores."""
        with self.services.sessions() as session:
            row = _latest_calibration(session, self.services.settings.pack)
            data = dict(row.data) if row else None
        return Calibration.from_dict(data) if data and data.get("sorted_scores") else None

    def scores_png(self) -> bytes:
        return decided_scores_png(self.decided_scores())

    def impostors_png(self) -> bytes:
        return impostors_png(self.calibration(), self.services.settings.queue_fmr)
