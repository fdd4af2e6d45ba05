"""How candidates are ordered for a person (pure): one rule for search results, each report's
shortlist and the queue.

Order, most important first:

1. **Age and sex plausibility** (``MATCHER_AGE_RANKING``): pairs flagged implausible by
   ``review.age.check`` (birth years too far apart for the estimate, child found before the
   report's last-seen date, photo before birth, sex mismatch) rank below every plausible pair.
   Missing facts (``plausible is None``) count as plausible: they never push anyone down.
2. the **rank score** (``MATCHER_RANK_SCORE``, ``review.normalization.rank_score``; centred on
   the child's own cohort by default), highest first. ``Ranked.score`` holds it.

Which records make a report's shortlist is decided by (1)–(2) alone. Inside the list a third
key reorders, never removes (``order``):

3. **Name agreement** (``MATCHER_NAME_RANKING``, ``review.names``): ``same`` before
   ``similar`` before ``unknown`` before ``different``, applied after plausibility and
   before the face score. A different or missing name only moves a candidate down the list
   it is already on.

The queue across reports has its own order (``queue_key``), on cross-report numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

NAME_ORDER = {"same": 0, "similar": 1, "unknown": 2, None: 2, "different": 3}


@dataclass(frozen=True)
class Ranked:
    """What ordering needs to know about one candidate record."""

    record_id: int
    score: float
    plausible: bool | None = None
    name: str | None = None  # same | similar | different | unknown | None


T = TypeVar("T", bound=Ranked)


def plausibility_class(plausible: bool | None, use_age: bool = True) -> int:
    return 1 if use_age and plausible is False else 0


IMPLAUSIBLE = 1e6  # larger than any spread of scores: ``effective`` orders like ``select_key``


def effective(r: Ranked, use_age: bool = True) -> float:
    """One number, higher first, that orders like ``select_key`` (a list's floor and bar)."""
    return r.score - IMPLAUSIBLE * plausibility_class(r.plausible, use_age)


def select_key(r: Ranked, use_age: bool = True) -> tuple:
    return (plausibility_class(r.plausible, use_age), -r.score, r.record_id)


def order_key(r: Ranked, use_age: bool = True, use_name: bool = True) -> tuple:
    name = NAME_ORDER.get(r.name, 2) if use_name else 0
    return (plausibility_class(r.plausible, use_age), name, -r.score, r.record_id)


KIND_ORDER = {"match": 0, "duplicate": 1, "sighting": 2}  # ties between kinds (types.CandidateKind)


def queue_key(plausible: bool | None, name: str | None, fmr: float | None, score: float, kind: str, item_id: int) -> tuple:
    """The queue's order ACROSS reports (candidates, duplicates and sightings alike), the one
    copy of it: plausible before implausible, then name agreement (``NAME_ORDER``; none known:
    unknown), then lower false-match rate, then higher cross-report score, then kind and id.
    It rests on numbers that mean the same for every report (the calibrated rate, the S-norm),
    never on a rank score, which only orders one report's list."""
    return (plausible is False, NAME_ORDER.get(name, 2), fmr if fmr is not None else 1.0, -score, KIND_ORDER.get(kind, 3), item_id)


def select(items: Iterable[T], n: int, use_age: bool = True) -> list[T]:
    """The best ``n`` by plausibility then score (the shortlist's members)."""
    return sorted(items, key=lambda r: select_key(r, use_age))[: max(n, 0)]


def order(items: Iterable[T], use_age: bool = True, use_name: bool = True) -> list[T]:
    """Display order within a list already chosen by ``select``."""
    return sorted(items, key=lambda r: order_key(r, use_age, use_name))


def shortlist(items: Sequence[T], n: int, use_age: bool = True, use_name: bool = True) -> list[T]:
    return order(select(items, n, use_age), use_age, use_name)
