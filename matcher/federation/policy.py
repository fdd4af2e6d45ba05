"""What one peer may do here, and the facts a query carries (frozen, validated).

``PeerPolicy`` is set by an admin per peer: which of our sides it may search, which facts
may travel with its queries, how many queries an hour, whether it may ask for disclosure,
and which search modes it may use (``encrypted`` always by default; ``plain`` only when the
agreement says so), with a cap on the template faces of one query.

Facts are closed by construction: ``QueryFact`` has two members (a birth-year range and
sex) and ``QueryFacts`` has fields for those two only. Names, contacts and places cannot be
configured to travel, and a query that names them is refused before anything is read.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from matcher.errors import FederationPayloadError, PeerForbidden, PeerPolicyError
from matcher.types import QueryFact, SearchMode, Side

MAX_FACES_LIMIT = 32  # template faces per query at most: each face is one projection of every gallery row
MAX_QUERIES_PER_HOUR = 10_000
SEXES = ("female", "male")
_NEVER = ("name", "names", "contact", "contacts", "phone", "email", "address", "place", "places", "location", "notes")
_FIELDS = ("sides", "facts", "queries_per_hour", "disclosure", "modes", "max_faces")


def _never_message(what: str) -> str:
    return f"{what}: names, contacts and places never travel to a peer; only {', '.join(QueryFact)} may"


def _members(values: Iterable[Any], enum: type, field_name: str, parse) -> frozenset:
    out = set()
    if isinstance(values, str | bytes):
        raise PeerPolicyError(f"{field_name} must be a list, not one string", field_name)
    for value in values:
        if isinstance(value, enum):
            out.add(value)
            continue
        if field_name == "facts" and str(value).lower() in _NEVER:
            raise PeerPolicyError(_never_message(f"facts may not include {value!r}"), field_name)
        try:
            out.add(parse(value))
        except (ValueError, TypeError):
            allowed = ", ".join(m.plural if isinstance(m, Side) else str(m) for m in enum)
            raise PeerPolicyError(f"{field_name} may hold only {allowed}; {value!r} is not one of them", field_name) from None
    return frozenset(out)


def _side(value: Any) -> Side:
    text = str(value)
    return Side.from_plural(text) if text in ("children", "reports") else Side(text)


@dataclass(frozen=True)
class PeerPolicy:
    sides: frozenset[Side] = frozenset()
    facts: frozenset[QueryFact] = frozenset()
    queries_per_hour: int = 60
    disclosure: bool = False
    modes: frozenset[SearchMode] = field(default_factory=lambda: frozenset({SearchMode.ENCRYPTED}))
    max_faces: int = 8

    def __post_init__(self) -> None:
        # the enum check runs on constructed policies too: a stray string ("names") is refused
        object.__setattr__(self, "sides", _members(self.sides, Side, "sides", _side))
        object.__setattr__(self, "facts", _members(self.facts, QueryFact, "facts", QueryFact))
        object.__setattr__(self, "modes", _members(self.modes, SearchMode, "modes", SearchMode))
        if not self.modes:
            raise PeerPolicyError("modes must allow at least one search mode (encrypted)", "modes")
        if not isinstance(self.disclosure, bool):
            raise PeerPolicyError("disclosure is true or false", "disclosure")
        for name, top in (("queries_per_hour", MAX_QUERIES_PER_HOUR), ("max_faces", MAX_FACES_LIMIT)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise PeerPolicyError(f"{name} must be a whole number from 1 to {top}, not {value!r}", name)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PeerPolicy:
        """From stored JSON or an admin's form; unknown keys are refused, not ignored."""
        if not isinstance(data, Mapping):
            raise PeerPolicyError("a peer policy is a mapping of its fields", None)
        for key in data:
            if str(key).lower() in _NEVER:
                raise PeerPolicyError(_never_message(f"no policy field {key!r}"), str(key))
            if key not in _FIELDS:
                raise PeerPolicyError(f"unknown peer policy field {key!r}; the fields are {', '.join(_FIELDS)}", str(key))
        return cls(**{k: data[k] for k in _FIELDS if k in data})

    def to_mapping(self) -> dict[str, Any]:
        return {
            "sides": sorted(s.plural for s in self.sides),
            "facts": sorted(self.facts),
            "queries_per_hour": self.queries_per_hour,
            "disclosure": self.disclosure,
            "modes": sorted(self.modes),
            "max_faces": self.max_faces,
        }

    def admit(self, side: Side, mode: SearchMode, facts: QueryFacts, faces: int) -> None:
        """Refuse (403) a query this policy does not allow. The hourly rate is counted by
        the caller against ``queries_per_hour``."""
        if side not in self.sides:
            raise PeerForbidden(f"this peer may not search our {side.plural}")
        if mode not in self.modes:
            raise PeerForbidden(f"this peer may not use {mode} search" + (" (the agreement allows only encrypted probes)" if mode is SearchMode.PLAIN else ""))
        extra = facts.present - self.facts
        if extra:
            raise PeerForbidden(f"this peer may not send {', '.join(sorted(extra))} with a query")
        if not 1 <= faces <= self.max_faces:
            raise PeerForbidden(f"a query from this peer carries 1 to {self.max_faces} template faces, not {faces}")


@dataclass(frozen=True)
class QueryFacts:
    """The facts that travel with one query: at most a birth-year range and sex."""

    birth_year_min: int | None = None
    birth_year_max: int | None = None
    sex: str | None = None

    def __post_init__(self) -> None:
        lo, hi = self.birth_year_min, self.birth_year_max
        if (lo is None) != (hi is None):
            raise FederationPayloadError("a birth-year range needs both ends")
        if lo is not None:
            top = _dt.date.today().year + 1
            if any(isinstance(v, bool) or not isinstance(v, int) for v in (lo, hi)) or not 1900 <= lo <= hi <= top:
                raise FederationPayloadError(f"the birth-year range must be whole years with 1900 <= from <= to <= {top}")
        if self.sex is not None and self.sex not in SEXES:
            raise FederationPayloadError(f"sex travels as {' or '.join(SEXES)} (or not at all), not {self.sex!r}")

    @property
    def present(self) -> frozenset[QueryFact]:
        out = set()
        if self.birth_year_min is not None:
            out.add(QueryFact.BIRTH_YEAR_RANGE)
        if self.sex is not None:
            out.add(QueryFact.SEX)
        return frozenset(out)

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.birth_year_min is not None:
            out["birth_year_range"] = [self.birth_year_min, self.birth_year_max]
        if self.sex is not None:
            out["sex"] = self.sex
        return out

    @classmethod
    def from_mapping(cls, data: Any) -> QueryFacts:
        """From a peer's message: anything but the two facts is refused by name."""
        if not isinstance(data, Mapping):
            raise FederationPayloadError("the query's facts are a mapping")
        for key in data:
            if key not in tuple(QueryFact):
                raise FederationPayloadError(_never_message(f"a query may not carry {str(key)[:40]!r}"))
        span = data.get("birth_year_range")
        if span is not None and (not isinstance(span, list) or len(span) != 2):
            raise FederationPayloadError("birth_year_range is a list of two years")
        lo, hi = span if span is not None else (None, None)
        return cls(lo, hi, data.get("sex"))
