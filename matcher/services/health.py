"""The admin "model health" page's data: candidates per review status, the latest
calibration of the service's pack, the strong-lead threshold, and the two plots (drawn by
``matcher.evaluation.plots``).

The threshold is set as an *open-set* rate (``MATCHER_QUEUE_FPIR``): the chance that any of
the N children in the gallery scores this high by chance, ≈ N × the per-pair false-match
rate. The impostor plot is per pair, so it marks the per-pair rate ``QUEUE_FPIR / N``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from matcher.evaluation.plots import decided_scores_png, impostors_png
from matcher.review.calibration import Calibration
from matcher.review.templates import count_records_with_faces
from matcher.store.tables import CalibrationRow, Candidate
from matcher.types import CandidateStatus, Side

DECIDED = (CandidateStatus.CONFIRMED, CandidateStatus.REJECTED)
# the order the page lists them in
STATUS_ORDER = (CandidateStatus.OPEN, CandidateStatus.CONFIRMED, CandidateStatus.REJECTED, CandidateStatus.UNSURE, CandidateStatus.AWAITING_SECOND)


def _latest_calibration(session: Session, pack: str) -> CalibrationRow | None:
    return session.scalar(select(CalibrationRow).where(CalibrationRow.pack == pack).order_by(CalibrationRow.id.desc()).limit(1))


class HealthService:
    """``pack``: the service's pack (MATCHER_PACK); ``queue_fpir``: MATCHER_QUEUE_FPIR."""

    def __init__(self, sessions: sessionmaker[Session], pack: str, queue_fpir: float) -> None:
        self._sessions = sessions
        self._pack = pack
        self._queue_fpir = queue_fpir

    def summary(self) -> dict:
        """``counts`` (candidates per status) and ``calibration`` (records, pairs, at) or None."""
        with self._sessions() as session:
            counts = {str(st): 0 for st in STATUS_ORDER}
            for (st,) in session.execute(select(Candidate.status)):
                counts[st] = counts.get(st, 0) + 1
            cal = _latest_calibration(session, self._pack)
            calibration = {"records": cal.n_records, "pairs": cal.data.get("n_pairs"), "at": cal.created_at} if cal else None
        return {"counts": counts, "calibration": calibration}

    def decided_scores(self) -> list[tuple[str, float]]:
        """(status, face similarity) of every confirmed or rejected candidate: the raw cosine of
        its best face pair (the plot's 0-1 scale; the normalised rank score has no fixed range)."""
        score = func.coalesce(Candidate.raw_score, Candidate.score)
        with self._sessions() as session:
            return [(st, value) for st, value in session.execute(select(Candidate.status, score).where(Candidate.status.in_(DECIDED)))]

    def calibration(self) -> Calibration | None:
        """The latest calibration of the service's pack, if it has impostor scores."""
        with self._sessions() as session:
            row = _latest_calibration(session, self._pack)
            data = dict(row.data) if row else None
        return Calibration.from_dict(data) if data and data.get("sorted_scores") else None

    def scores_png(self) -> bytes:
        return decided_scores_png(self.decided_scores())

    def strong_threshold(self) -> dict:
        """``fpir`` (the open-set rate setting), ``children`` (N: children with template faces
        for the service's pack) and ``per_pair`` (the per-pair false-match rate ``fpir / N``
        that a pair must reach to be a strong lead, or a duplicate to be queued)."""
        fpir = self._queue_fpir
        with self._sessions() as session:
            n = count_records_with_faces(session, Side.CHILD, self._pack)
        return {"fpir": fpir, "children": n, "per_pair": fpir / max(n, 1)}

    def impostors_png(self) -> bytes:
        return impostors_png(self.calibration(), self.strong_threshold()["per_pair"])
