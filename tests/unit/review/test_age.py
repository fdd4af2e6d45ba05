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


def test_given_ages_date_the_photos_not_the_upload_day():
    """A family photo scanned and uploaded years after it was taken: the age given with it,
    not the day it arrived, says when the child looked like that."""
    from types import SimpleNamespace

    from matcher.review.evidence import age_facts

    uploaded = dt.date(2026, 11, 1)  # the received date: no EXIF, no year given
    child = SimpleNamespace(side="child", birth_year=2015, birth_date=None, event_on=dt.date(2025, 5, 1), sex=None)
    # with the report's birth year, the age dates the photo: 2015 + 3
    report = SimpleNamespace(side="report", birth_year=2015, birth_date=None, event_on=dt.date(2019, 1, 1), sex=None)
    got = check(age_facts(report, child, uploaded, dt.date(2025, 6, 1), 3.0, None, report_dated=False))
    assert got.report_age_at_photo == pytest.approx(3.0, abs=0.6) and got.plausible is True
    # without it, an undated scan says nothing about the birth year (the upload day would make
    # the child born in 2023 and flag the true pair implausible)
    unknown = SimpleNamespace(side="report", birth_year=None, birth_date=None, event_on=None, sex=None)
    got = check(age_facts(unknown, child, uploaded, dt.date(2025, 6, 1), 3.0, None, report_dated=False))
    assert "birth_year_mismatch" not in got.flags and got.plausible is not False
    # a photo that carries its own date (EXIF or a year given) still dates the child
    got = check(age_facts(unknown, child, dt.date(2018, 7, 1), dt.date(2025, 6, 1), 3.0, None, report_dated=True))
    assert got.birth_year_gap == 0 and got.plausible is True
    got = check(age_facts(unknown, child, dt.date(2024, 7, 1), dt.date(2025, 6, 1), 3.0, None, report_dated=True))
    assert "birth_year_mismatch" in got.flags  # born about 2021: not this child
