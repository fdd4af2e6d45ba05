"""Review state machine and decisions (every one audited).

    open ──► confirmed | rejected | unsure
    unsure ──► confirmed | rejected
    with TWO_PERSON_RULE: open/unsure ──confirm──► awaiting_second ──confirm by another reviewer──► confirmed

Confirming a match closes the report and the child to further matching against others
(they stay searchable for duplicates). A rejection stores the score it was rejected at;
matching re-queues the pair only if new evidence raises the score above it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import CandidateNotFound, InvalidTransition, TwoPersonRuleError
from matcher.store import repo
from matcher.store.tables import Candidate, Decision, Record
from matcher.types import CandidateKind, CandidateStatus, RecordStatus, Role, Verdict

TRANSITIONS: dict[str, set[Verdict]] = {
    CandidateStatus.OPEN: {Verdict.CONFIRMED, Verdict.REJECTED, Verdict.UNSURE},
    CandidateStatus.UNSURE: {Verdict.CONFIRMED, Verdict.REJECTED},
    CandidateStatus.AWAITING_SECOND: {Verdict.CONFIRMED, Verdict.REJECTED, Verdict.UNSURE},
}


def next_status(
    what: str, object_id: int, current: str, verdict: str, reviewer: str, two_person_rule: bool, first_confirmer: Callable[[], str | None]
) -> tuple[Verdict, CandidateStatus]:
    """The state machine shared by candidates and sightings: the verdict checked against the
    current status, and the status it leads to (``awaiting_second`` under the two-person rule;
    ``first_confirmer`` is asked only when a second confirmation arrives)."""
    if verdict not in tuple(Verdict):
        raise InvalidTransition(f"verdict must be one of {', '.join(Verdict)}")
    verdict = Verdict(verdict)
    if verdict not in TRANSITIONS.get(current, set()):
        raise InvalidTransition(f"{what} {object_id} is {current}; it cannot become {verdict}")
    new_status = CandidateStatus(verdict)
    if verdict == Verdict.CONFIRMED and two_person_rule:
        if current != CandidateStatus.AWAITING_SECOND:
            new_status = CandidateStatus.AWAITING_SECOND
        elif first_confirmer() == reviewer:
            raise TwoPersonRuleError(f"{reviewer} already confirmed {what} {object_id}; a second reviewer must confirm it")
    return verdict, new_status


def decide(
    session: Session,
    candidate_id: int,
    verdict: str,
    reviewer: str,
    note: str | None,
    two_person_rule: bool,
    role: str = Role.REVIEWER,
    request_id: str | None = None,
) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise CandidateNotFound(f"no candidate {candidate_id}")
    verdict, new_status = next_status(
        "candidate",
        candidate_id,
        candidate.status,
        verdict,
        reviewer,
        two_person_rule,
        lambda: session.scalar(
            select(Decision.reviewer).where(Decision.candidate_id == candidate.id, Decision.verdict == Verdict.CONFIRMED).order_by(Decision.id.desc()).limit(1)
        ),
    )
    session.add(Decision(candidate_id=candidate.id, verdict=verdict, reviewer=reviewer, note=note, score_at_decision=candidate.score))
    previous = candidate.status
    candidate.status = new_status
    if new_status == CandidateStatus.CONFIRMED and candidate.kind == CandidateKind.MATCH:
        for record_id in (candidate.report_id, candidate.child_id):
            session.get(Record, record_id).status = RecordStatus.CLOSED
    repo.audit(
        session, reviewer, role, "decision", "candidate", str(candidate.id), request_id, verdict=verdict, previous=previous, status=new_status, note=note
    )
    return candidate
