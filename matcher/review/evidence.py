"""The facts beside the face score (pure): age plausibility inputs and name agreement.

``age_facts`` turns two records and the best face pair's photos into ``review.age.AgeFacts``.
When someone gave the child's age in a photo (most family photos are scans or forwards with
no date, so the upload date says nothing about when it was taken), that age wins:

* with a birth year, the photo is dated to the middle of the year the child had that age;
* without a birth year but with a photo that carries its own date (EXIF, or the year someone
  gave), the birth year is estimated from the two;
* without a birth year and with only the date the photo was *received*, nothing is estimated:
  a scan uploaded today of a photo taken years ago would otherwise make the child years
  younger than they are and flag the true pair implausible.
"""

from __future__ import annotations

import datetime as dt

from matcher.review.age import AgeFacts
from matcher.review.names import compare_names


def birth_year_of(record) -> int | None:
    """``Record.known_birth_year`` for a record, or any object with the same two fields."""
    return record.birth_year or (record.birth_date.year if record.birth_date else None)


def photo_facts(birth_year: int | None, photo_date: dt.date | None, age: float | None, dated: bool = True) -> tuple[int | None, dt.date | None]:
    """(birth year, photo date) after using the age given with a photo, if any. ``dated``:
    ``photo_date`` is when the photo was taken (EXIF, a year given), not when it arrived."""
    if age is None:
        return birth_year, photo_date
    if birth_year is not None:
        year = int(birth_year + age)
        return birth_year, dt.date(max(1, min(9999, year)), 7, 1)
    if photo_date is not None and not dated:
        return None, None  # an age but no idea when: the upload date would date the child wrongly
    if photo_date is not None:
        year = photo_date.year + (photo_date.timetuple().tm_yday - 1) / 365.25
        return round(year - age - 0.5), photo_date  # born mid-year, as review.age assumes
    return birth_year, photo_date


def age_facts(
    report,
    child,
    report_photo: dt.date | None,
    child_photo: dt.date | None,
    report_age: float | None = None,
    child_age: float | None = None,
    report_dated: bool = True,
    child_dated: bool = True,
) -> AgeFacts:
    """Facts for a (report, child) pair; for a duplicate pass the two records in id order.
    ``*_dated``: the photo's date is when it was taken (see ``photo_facts``)."""
    ry, rdate = photo_facts(birth_year_of(report), report_photo, report_age, report_dated)
    cy, cdate = photo_facts(birth_year_of(child), child_photo, child_age, child_dated)
    return AgeFacts(
        report_birth_year=ry,
        report_last_seen=report.event_on if report.side == "report" else None,
        report_sex=report.sex,
        report_photo_date=rdate,
        child_birth_year=cy,
        child_found=child.event_on if child.side == "child" else None,
        child_sex=child.sex,
        child_photo_date=cdate,
    )


def name_level(report_name: str | None, child_name: str | None) -> str:
    """``same`` | ``similar`` | ``different`` | ``unknown`` (``review.names``)."""
    return compare_names(report_name, child_name).level


def name_evidence(report_name: str | None, child_name: str | None) -> dict:
    """What a reviewer reads: the level, the score and both names in their common Latin form."""
    return compare_names(report_name, child_name).as_dict()
