"""A shortlist for every report (pure): which children are in front of a reviewer.

Each open report keeps its best ``N`` children (``MATCHER_SHORTLIST``) in the queue, whatever
their false-match rate: a true pair across eight years often scores lower than any flat
threshold would let through, and a reviewer given twenty faces can still find it. The rules:

* the list is chosen by ``ranking.select`` (plausible first, then score);
* a candidate a reviewer has decided on (``confirmed``, ``unsure``, ``awaiting_second``) is
  never touched and takes one of the ``N`` places; a ``rejected`` one takes no place and comes
  back only with new evidence (a better raw face score than when it was rejected);
* a new child that ranks inside the list joins it (``add``), one that left earlier and ranks
  inside again comes back (``reopen``);
* an undecided candidate pushed out of the list leaves the queue (``drop``, status
  ``superseded``, audited by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from matcher.review.ranking import Ranked, select

UNDECIDED = ("open", "superseded")
HELD = ("confirmed", "unsure", "awaiting_second")
EPS = 1e-6


@dataclass(frozen=True)
class Existing:
    record_id: int
    status: str
    rejected_raw: float | None = None  # raw best-pair score when it was rejected


@dataclass(frozen=True)
class Plan:
    add: list[int] = field(default_factory=list)
    reopen: list[int] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)


def plan(pool: Iterable[Ranked], existing: dict[int, Existing], raw: dict[int, float], n: int, use_age: bool = True) -> Plan:
    """``pool``: every record that could be on the list, with its current score (fresh for
    those just compared, stored for the others); ``existing``: this report's candidates by
    record id; ``raw``: fresh raw scores (new evidence test for rejected pairs)."""
    held = sum(1 for e in existing.values() if e.status in HELD)
    eligible: list[Ranked] = []
    for r in pool:
        e = existing.get(r.record_id)
        if e is not None and e.status in HELD:
            continue
        if e is not None and e.status == "rejected":
            fresh = raw.get(r.record_id)
            if fresh is None or e.rejected_raw is None or fresh <= e.rejected_raw + EPS:
                continue
        eligible.append(r)
    chosen = {r.record_id for r in select(eligible, n - held, use_age)}
    out = Plan()
    for rid in sorted(chosen):
        e = existing.get(rid)
        if e is None:
            out.add.append(rid)
        elif e.status == "open":
            out.keep.append(rid)
        else:
            out.reopen.append(rid)
    out.drop.extend(sorted(rid for rid, e in existing.items() if e.status == "open" and rid not in chosen))
    return out
