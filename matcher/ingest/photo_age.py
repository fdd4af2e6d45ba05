"""The child's age in one uploaded photo, as a family or staff member gave it (pure).

With an upload (``/v1/reports|children/{id}/media``, the family pages) someone may say how
old the child was in it (``age``, years) and/or the year it was taken (``year_taken``).
``parse_given_age`` checks what was typed (``InvalidFieldError``, 422, with a message a person
can act on) and ``GivenAge.resolve`` turns it into what is stored with the media
(``Media.age_at_photo``, and a photo date when nothing else dates the photo). Most family
photos are scans or forwards with no date, and the age in each photo is what age-aware
ranking needs most (``review.evidence.photo_facts``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from matcher.errors import InvalidFieldError

MAX_AGE = 30.0  # years: children and young adults only
FIRST_YEAR = 1900
AGE_AND_YEAR_SLACK = 2  # years an age and a photo year may disagree by (birthdays, estimates)
_YEAR = re.compile(r"^[0-9]{4}$")


@dataclass(frozen=True)
class GivenAge:
    """What someone said about one photo: the child's ``age`` in it (years, decimals allowed)
    and/or the ``year`` it was taken."""

    age: float | None = None
    year: int | None = None

    def resolve(self, birth_year: int | None) -> tuple[float | None, dt.datetime | None]:
        """``(age_at_photo, taken_at)`` for a record born in ``birth_year`` (None: unknown).

        * an age given is stored as it is;
        * a year with a known birth year becomes an age (``year - birth_year``: both taken
          as mid-year); it must give 0-30 years and agree with an age also given;
        * a year without a birth year dates the photo (1 July of that year); the caller keeps
          a date the photo itself carries (EXIF) instead."""
        age, taken = self.age, None
        if self.year is not None and birth_year is not None:
            from_year = float(self.year - birth_year)
            if not 0 <= from_year <= MAX_AGE:
                raise InvalidFieldError(
                    f"year_taken: {self.year} would make the child {from_year:g} years old in this photo "
                    f"(born {birth_year}); give a year from {birth_year} to {birth_year + int(MAX_AGE)}.",
                    "year_taken",
                )
            if age is None:
                age = from_year
            elif abs(age - from_year) > AGE_AND_YEAR_SLACK:
                raise InvalidFieldError(
                    f"age and year_taken disagree: a child born in {birth_year} was about {from_year:g} in {self.year}, not {age:g}. "
                    "Give only the one you are sure of."
                )
        elif self.year is not None:
            taken = dt.datetime(self.year, 7, 1)
        return age, taken


def parse_given_age(age: str | None, year_taken: str | None, today: dt.date | None = None) -> GivenAge | None:
    """The optional ``age`` / ``year_taken`` form fields of an upload; None when both are empty.
    Raises ``InvalidFieldError`` (422) naming the field and what it may hold."""
    age_text = (age or "").strip().replace(",", ".")
    year_text = (year_taken or "").strip()
    if not age_text and not year_text:
        return None
    value = None
    if age_text:
        try:
            value = float(age_text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not 0 <= value <= MAX_AGE:
            raise InvalidFieldError(f"age: the child's age in this photo must be a number of years from 0 to {MAX_AGE:g} (for example 4 or 2.5).", "age")
        value = round(value, 2)
    year = None
    if year_text:
        this_year = (today or dt.date.today()).year
        if not _YEAR.match(year_text) or not FIRST_YEAR <= int(year_text) <= this_year:
            raise InvalidFieldError(f"year_taken: the year the photo was taken must be a 4-digit year from {FIRST_YEAR} to {this_year}.", "year_taken")
        year = int(year_text)
    return GivenAge(value, year)
