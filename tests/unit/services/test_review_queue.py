"""The reviewers' queue with sightings in it (``services.review_queue.leads``): candidates and
sightings merged strongest first, each kind keeping its own order, and how `matcher queue`
prints a sighting. Pure: rows as the two services return them, no database."""

from __future__ import annotations

from matcher.cli.candidates import queue_line
from matcher.services.review_queue import lead_strength, leads, merge_leads


def candidate(cid: int, fmr: float, score: float, plausible: bool | None = True, name: str | None = None, kind: str = "match") -> dict:
    evidence = {"plausible": plausible, "flags": [], **({"name": {"level": name}} if name else {})}
    return {"id": cid, "kind": kind, "report_id": f"R{cid}", "child_id": f"C{cid}", "score": score, "fmr": fmr, "status": "open", "evidence": evidence}


def sighting(sid: int, fmr: float | None, score: float, plausible: bool | None = None, span=(1.0, 8.5), side: str = "report") -> dict:
    number = f"S{sid}"
    return {
        "id": sid,
        "kind": "sighting",
        "record": number,
        "side": side,
        "report_id": number if side == "report" else None,
        "child_id": number if side == "child" else None,
        "score": score,
        "fmr": fmr,
        "plausible": plausible,
        "status": "open",
        "span": list(span),
        "evidence": {"plausible": plausible, "flags": []},
        "url": f"/v1/sightings/{sid}",
    }


def test_sightings_take_their_place_by_strength_among_the_candidates():
    cands = [candidate(1, 1e-6, 0.9), candidate(2, 1e-3, 0.5), candidate(3, 1e-6, 0.95, plausible=False)]
    sights = [sighting(1, 1e-5, 0.7), sighting(2, 0.5, 0.2)]
    merged = merge_leads(cands, sights, 10)
    assert [(r["kind"], r["id"]) for r in merged] == [("match", 1), ("sighting", 1), ("match", 2), ("sighting", 2), ("match", 3)]


def test_each_kind_keeps_its_own_order_and_the_limit_cuts_the_merged_list():
    # the candidates' order comes from the database columns, which may disagree with their
    # evidence: the merge never reorders one kind's rows
    cands = [candidate(5, 1e-2, 0.4), candidate(4, 1e-4, 0.8)]
    merged = merge_leads(cands, [sighting(9, 1e-3, 0.6)], 10)
    assert [r["id"] for r in merged if r["kind"] == "match"] == [5, 4]
    assert len(merge_leads(cands, [sighting(9, 1e-3, 0.6)], 2)) == 2
    assert merge_leads([], [], 5) == []


def test_a_sighting_ranks_like_a_candidate_of_unknown_name_and_after_it_on_a_tie():
    same = candidate(7, 1e-4, 0.6, plausible=None)
    seen = sighting(7, 1e-4, 0.6)
    assert lead_strength(same) < lead_strength(seen)  # kind breaks the tie; ids are per kind
    assert lead_strength(candidate(8, 1e-3, 0.5, name="same")) < lead_strength(seen)  # name agreement first, as in the queue
    assert lead_strength(seen) < lead_strength(candidate(8, 1e-6, 0.9, name="different"))
    assert lead_strength(sighting(1, None, 0.9)) > lead_strength(sighting(2, 0.9, 0.1))  # no rate counts as the worst


class _Services:
    """What ``leads`` reads: the candidates' queue and the sightings' queue, recorded."""

    def __init__(self, cands, sights):
        self.calls = []
        self.review = type("R", (), {"queue": lambda _, status, limit, kind: self._log(("candidates", status, limit, kind), cands)})()
        self.sightings = type("S", (), {"queue": lambda _, status, limit: self._log(("sightings", status, limit), sights)})()

    def _log(self, call, rows):
        self.calls.append(call)
        return rows


def test_the_kind_filter_reads_only_that_kind():
    cands, sights = [candidate(1, 1e-6, 0.9, kind="duplicate")], [sighting(1, 1e-5, 0.7)]
    svc = _Services(cands, sights)
    assert [r["kind"] for r in leads(svc, "open", 50, "sighting")] == ["sighting"] and svc.calls == [("sightings", "open", 50)]
    svc = _Services(cands, sights)
    assert [r["kind"] for r in leads(svc, None, 50, "duplicate")] == ["duplicate"] and svc.calls == [("candidates", None, 50, "duplicate")]
    svc = _Services(cands, sights)
    assert [r["kind"] for r in leads(svc, "open", 50)] == ["duplicate", "sighting"] and len(svc.calls) == 2


def test_queue_lines_name_a_sightings_record_and_when_it_was_seen():
    line = queue_line(sighting(3, 2.5e-5, 0.71))
    assert line.startswith("#3 ") and "sighting" in line and "report S3" in line and "seen 1.0-8.5 s" in line and "fmr 2.5e-05" in line
    photo = queue_line(sighting(4, None, 0.5, span=(None, None), side="child"))
    assert "child  S4" in photo and "seen photo" in photo and "fmr -" in photo
    pair = queue_line(candidate(2, 1e-3, 0.5))
    assert "report R2" in pair and "child C2" in pair and "fmr 0.001" in pair
