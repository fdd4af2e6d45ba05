"""Ordering rules (age and sex plausibility, name, score) as a table of cases, and the
shortlist rules (a new child enters, an undecided candidate leaves, a decided one is never
touched, a rejected one returns only with new evidence)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from matcher.review.age import check
from matcher.review.evidence import age_facts, photo_facts
from matcher.review.ranking import Ranked, order, select, shortlist
from matcher.review.shortlist import Existing, plan

D = dt.date


def report(**kw):
    base = {"side": "report", "birth_year": 2012, "birth_date": None, "event_on": D(2016, 5, 1), "sex": "F", "name": None}
    return SimpleNamespace(**(base | kw))


def child(**kw):
    base = {"side": "child", "birth_year": 2012, "birth_date": None, "event_on": D(2020, 3, 1), "sex": "F", "name": None}
    return SimpleNamespace(**(base | kw))


# (case, report fields, child fields, report photo date, report age at photo, expected plausible)
AGE_CASES = [
    ("same birth year", {}, {}, D(2015, 1, 1), None, True),
    ("estimate 2 years off is within tolerance", {}, {"birth_year": 2014}, D(2015, 1, 1), None, True),
    ("estimate 6 years off", {}, {"birth_year": 2006}, D(2015, 1, 1), None, False),
    ("sex mismatch", {}, {"sex": "M"}, D(2015, 1, 1), None, False),
    ("sex unknown on one side never excludes", {"sex": None}, {"sex": "M"}, D(2015, 1, 1), None, True),
    ("child found before last seen", {"event_on": D(2021, 1, 1)}, {}, D(2015, 1, 1), None, False),
    ("no birth years and no dates: unknown", {"birth_year": None, "event_on": None}, {"birth_year": None, "event_on": None}, None, None, None),
    ("age at photo dates an undated scan", {}, {}, None, 3.0, True),
    ("age at photo gives the birth year when the report has none", {"birth_year": None}, {"birth_year": 2001}, D(2015, 6, 1), 3.0, False),
]


@pytest.mark.parametrize(("case", "rep", "chi", "photo", "age", "expected"), AGE_CASES, ids=[c[0] for c in AGE_CASES])
def test_age_plausibility_table(case, rep, chi, photo, age, expected):
    facts = age_facts(report(**rep), child(**chi), photo, D(2022, 1, 1), age, None)
    assert check(facts).plausible is expected, case


def test_photo_facts_use_the_given_age():
    assert photo_facts(2012, None, 3.0) == (2012, D(2015, 7, 1))
    assert photo_facts(None, D(2015, 6, 1), 3.0) == (2012, D(2015, 6, 1))
    assert photo_facts(2012, D(2020, 1, 1), None) == (2012, D(2020, 1, 1))


# (case, candidates as (id, score, plausible, name), expected order of ids)
ORDER_CASES = [
    ("score decides among plausible", [(1, 2.0, True, None), (2, 3.0, True, None)], [2, 1]),
    ("implausible below plausible whatever the score", [(1, 5.0, False, None), (2, 1.0, True, None)], [2, 1]),
    ("missing facts count as plausible", [(1, 1.0, None, None), (2, 5.0, False, None), (3, 2.0, True, None)], [3, 1, 2]),
    (
        "same name before similar before unknown before different",
        [(1, 4.0, True, "different"), (2, 1.0, True, "unknown"), (3, 2.0, True, "similar"), (4, 0.5, True, "same")],
        [4, 3, 2, 1],
    ),
    ("plausibility outranks the name", [(1, 1.0, False, "same"), (2, 1.0, True, "different")], [2, 1]),
    ("ties broken by record id", [(7, 1.0, True, None), (3, 1.0, True, None)], [3, 7]),
]


@pytest.mark.parametrize(("case", "items", "expected"), ORDER_CASES, ids=[c[0] for c in ORDER_CASES])
def test_ordering_table(case, items, expected):
    ranked = [Ranked(*i) for i in items]
    assert [r.record_id for r in order(ranked)] == expected, case


def test_levers_switch_off():
    ranked = [Ranked(1, 5.0, False, "different"), Ranked(2, 1.0, True, "same")]
    assert [r.record_id for r in order(ranked, use_age=False, use_name=False)] == [1, 2]
    assert [r.record_id for r in order(ranked, use_age=False, use_name=True)] == [2, 1]


def test_name_never_removes_from_a_shortlist():
    """Membership is chosen by plausibility and score; the name only reorders inside."""
    ranked = [Ranked(i, 10.0 - i, True, "unknown") for i in range(1, 6)] + [Ranked(9, 0.1, True, "same")]
    chosen = shortlist(ranked, 3)
    assert {r.record_id for r in chosen} == {1, 2, 3}
    ranked[0] = Ranked(1, 9.0, True, "different")
    assert [r.record_id for r in shortlist(ranked, 3)] == [2, 3, 1]
    assert [r.record_id for r in select(ranked, 2)] == [1, 2]


def pool(*scores):
    return [Ranked(i + 1, s, True, None) for i, s in enumerate(scores)]


def test_new_child_enters_and_undecided_leaves():
    existing = {1: Existing(1, "open"), 2: Existing(2, "open")}
    p = plan(pool(0.9, 0.5, 0.8), existing, {}, n=2)
    assert p.add == [3] and p.keep == [1] and p.drop == [2] and p.reopen == []


def test_decided_candidates_are_never_touched_and_take_a_place():
    existing = {1: Existing(1, "unsure"), 2: Existing(2, "open"), 3: Existing(3, "confirmed")}
    p = plan(pool(0.1, 0.9, 0.2, 0.8), existing, {}, n=3)
    # two places are held by decided candidates: only the best undecided one remains
    assert p.keep == [2] and p.add == [] and p.drop == []
    assert 1 not in p.drop + p.keep + p.add and 3 not in p.drop + p.keep + p.add
    p = plan(pool(0.1, 0.5, 0.2, 0.8), existing, {}, n=3)
    assert p.add == [4] and p.drop == [2]


def test_rejected_returns_only_with_new_evidence():
    existing = {1: Existing(1, "rejected", rejected_raw=0.40)}
    assert plan(pool(5.0), existing, {1: 0.40}, n=5).reopen == []
    assert plan(pool(5.0), existing, {1: 0.45}, n=5).reopen == [1]
    assert plan(pool(5.0), existing, {}, n=5).reopen == []


def test_superseded_candidate_comes_back_when_it_ranks_again():
    existing = {1: Existing(1, "superseded"), 2: Existing(2, "open")}
    p = plan(pool(0.9, 0.1), existing, {}, n=1)
    assert p.reopen == [1] and p.drop == [2]
