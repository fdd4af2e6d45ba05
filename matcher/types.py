"""The closed vocabulary of the service (DESIGN.md, "Vocabulary") as string enums.

Each member *is* its stored string (``enum.StrEnum``): ``Side.CHILD == "child"``, it is
written to and read from the database's ``String`` columns unchanged, it formats as its
value in f-strings and JSON, and rows read back as plain ``str`` compare equal to it. So
the enums need no schema change and no migration; they exist so that code names a value
once instead of spelling it in many places.

Plural forms ("children", "reports") are the public spelling of a side in the CLI
(``--side children``) and the HTTP API (``?side=reports``); ``Side.from_plural`` is the
one conversion between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    """Which kind of record: a child in care, or a family's missing-child report."""

    CHILD = "child"
    REPORT = "report"

    @property
    def other(self) -> Side:
        """The side a record is matched against."""
        return Side.REPORT if self is Side.CHILD else Side.CHILD

    @property
    def plural(self) -> str:
        """The public spelling: ``children`` / ``reports``."""
        return "children" if self is Side.CHILD else "reports"

    @classmethod
    def from_plural(cls, word: str) -> Side:
        """``"children"`` -> ``Side.CHILD``, ``"reports"`` -> ``Side.REPORT``."""
        for side in cls:
            if side.plural == word:
                return side
        raise ValueError(f"side must be 'children' or 'reports', not {word!r}")


class Role(StrEnum):
    """Who acts, as audit events record it. Users have one of the first four (``USER_ROLES``);
    ``STAFF`` is an operator at the command line (archive imports, searches; no account) and
    ``SYSTEM`` signs automatic events (matching, re-scoring)."""

    FAMILY = "family"
    SHELTER = "shelter"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    STAFF = "staff"
    SYSTEM = "system"


USER_ROLES: tuple[Role, ...] = (Role.FAMILY, Role.SHELTER, Role.REVIEWER, Role.ADMIN)


class RecordStatus(StrEnum):
    """A record's own state: ``closed`` after a confirmed match (still searched for
    duplicates), ``withdrawn`` by the family (hidden, never matched)."""

    OPEN = "open"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class FamilyStatus(StrEnum):
    """A report's status as its family sees it (never whether candidates exist)."""

    RECEIVED = "received"
    UNDER_REVIEW = "under review"
    CLOSED = "closed"


class CandidateKind(StrEnum):
    """``match``: a (report, child) pair; ``duplicate``: two records of one side."""

    MATCH = "match"
    DUPLICATE = "duplicate"
    SIGHTING = "sighting"  # a record seen in swept footage or field photos (matcher.sightings; own table)


class Verdict(StrEnum):
    """A reviewer's decision on a candidate."""

    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    UNSURE = "unsure"


class CandidateStatus(StrEnum):
    """Where a candidate is in review (see ``matcher.review.decisions``)."""

    OPEN = "open"
    UNSURE = "unsure"
    AWAITING_SECOND = "awaiting_second"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class RankScore(StrEnum):
    """What orders the children of one report's list (``MATCHER_RANK_SCORE``;
    ``review.normalization.rank_score``)."""

    CENTRED = "centred"  # s - mean of the child's own cohort (default)
    ZNORM = "znorm"  # (s - mean) / spread of the child's own cohort
    SNORM = "snorm"  # the symmetric S-norm (the cross-report score)
    RAW = "raw"  # the best face pair's cosine


class MediaKind(StrEnum):
    PHOTO = "photo"
    VIDEO = "video"


class JobStatus(StrEnum):
    """Background work (``matcher.jobs.queue``)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SearchMode(StrEnum):
    """How a peer's search crosses the wire (``matcher.federation``): ``encrypted`` (CKKS: the
    holder never sees the probe) or ``plain`` (the probe in clear over the signed channel, only
    where the peer's policy allows it)."""

    ENCRYPTED = "encrypted"
    PLAIN = "plain"


class QueryFact(StrEnum):
    """The only facts that may travel with a query to a peer. Names, contacts and places never
    do: there is no member for them."""

    BIRTH_YEAR_RANGE = "birth_year_range"
    SEX = "sex"


@dataclass(frozen=True)
class Principal:
    """A signed-in account as every use case sees it (``services.accounts.authenticate``)."""

    user_id: int
    name: str
    role: str
    token_id: int

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclass(frozen=True)
class SystemPrincipal:
    """The actor of automatic erasures (retention, restore) as ``RecordService.erase`` and
    the audit log see it: admin rights, a ``system:`` name."""

    name: str
    user_id: int | None = None
    token_id: int | None = None
    role: str = Role.ADMIN

    @property
    def actor(self) -> str:
        return f"system:{self.name}"
