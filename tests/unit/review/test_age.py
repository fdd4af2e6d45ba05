"""Age plausibility: a table of cases, including missing dates."""

from __future__ import annotations

import datetime as dt

import pytest

from matcher.review.age import AgeFacts, check

D = dt.date


def facts(**kw) -> AgeFacts:
    base = {
        "report_birth_year": None,
        "report_last_seen": None,
        "report_sex": None,
        "report_photo_date": None,
        "child_birth_year": None,
        "child_found": None,
        "child_sex": None,
        "child_photo_date": None,
    }
    return AgeFacts(**{**base, **kw})


CASES = [
    # (description, facts, plausible, flags)
    (
        "same birth year, dates in order",
        facts(
            report_birth_year=2011,
            report_last_seen=D(2015, 5, 1),
            report_photo_date=D(2014, 6, 1),
            child_birth_year=2011,
            child_found=D(2016, 1, 1),
            child_photo_date=D(2016, 2, 1),
        ),
        True,
        (),
    ),
    (
        "4-year-old last seen 2015 cannot be a 14-year-old in 2017",
        facts(
            report_birth_year=2011,
            report_last_seen=D(2015, 1, 1),
            report_photo_date=D(2015, 1, 1),
            child_birth_year=2003,
            child_found=D(2017, 1, 1),
            child_photo_date=D(2017, 1, 1),
        ),
        False,
        ("birth_year_mismatch",),
    ),
    ("estimate off by 2 years is within tolerance", facts(report_birth_year=2012, child_birth_year=2010, child_photo_date=D(2018, 1, 1)), True, ()),
    ("older child: 4 years off tolerated at age 12", facts(report_birth_year=2006, child_birth_year=2002, child_photo_date=D(2014, 6, 1)), True, ()),
    ("found before last seen", facts(report_last_seen=D(2020, 3, 1), child_found=D(2019, 12, 1)), False, ("found_before_last_seen",)),
    ("sex mismatch flagged", facts(report_birth_year=2015, child_birth_year=2015, report_sex="F", child_sex="male"), False, ("sex_mismatch",)),
    ("photo dated before birth", facts(report_birth_year=2016, report_photo_date=D(2014, 1, 1), child_birth_year=2016), False, ("photo_before_birth",)),
    ("no dates at all", facts(), None, ("dates_missing",)),
    ("only sexes known, equal", facts(report_sex="m", child_sex="M"), None, ("dates_missing",)),
]


@pytest.mark.parametrize(("description", "f", "plausible", "flags"), CASES, ids=[c[0] for c in CASES])
def test_age_plausibility_table(description, f, plausible, flags):
    result = check(f)
    assert result.plausible is plausible
    assert result.flags == flags


def test_ages_and_gap_are_computed_from_photo_dates():
    r = check(facts(report_birth_year=2011, report_photo_date=D(2013, 7, 2), child_birth_year=2011, child_photo_date=D(2019, 7, 2)))
    assert r.report_age_at_photo == pytest.approx(2.0, abs=0.1)
    assert r.child_age_at_photo == pytest.approx(8.0, abs=0.1)
    assert r.photo_gap_years == pytest.approx(6.0, abs=0.05)
    assert r.birth_year_gap == 0
