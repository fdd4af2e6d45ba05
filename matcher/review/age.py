"""Age plausibility of a (report, child) face pair (pure).

Inputs are what the records and photos know: the report's birth date or year and
last-seen date, the child's (estimated) birth year and date found, and each photo's date
(EXIF date, else the date it was received). Output: ages at each photo, the gap between
the photos, and whether the pair is plausible, with flags a reviewer can read.

Rules (flags):
* ``birth_year_mismatch`` — report birth year and the child's estimated birth year differ by
  more than the estimate's tolerance: 2 years, plus 1 for every 5 years of age at the
  child's photo (older children's ages are estimated less precisely).
* ``found_before_last_seen`` — the child was in care before the report's last-seen date.
* ``photo_before_birth`` — a photo dated before the (report's) birth year.
* ``sex_mismatch`` — both sexes known and different (kept, flagged).
* ``dates_missing`` — not enough dates to judge; ``plausible`` is then ``None``.
Implausible pairs are kept, flagged and ranked below plausible ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class AgeFacts:
    report_birth_year: int | None
    report_last_seen: dt.date | None
    report_sex: str | None
    report_photo_date: dt.date | None
    child_birth_year: int | None  # estimated by staff
    child_found: dt.date | None
    child_sex: str | None
    child_photo_date: dt.date | None


@dataclass(frozen=True)
class AgeCheck:
    report_age_at_photo: float | None
    child_age_at_photo: float | None
    photo_gap_years: float | None
    birth_year_gap: int | None
    plausible: bool | None
    flags: tuple[str, ...]

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _years(later: dt.date, earlier_year: int) -> float:
    return round(later.year + (later.timetuple().tm_yday - 1) / 365.25 - (earlier_year + 0.5), 1)


def tolerance(child_age: float | None) -> int:
    return 2 + int((child_age or 0) // 5)


def check(f: AgeFacts) -> AgeCheck:
    flags: list[str] = []
    implausible = False
    report_age = _years(f.report_photo_date, f.report_birth_year) if f.report_photo_date and f.report_birth_year else None
    child_age = _years(f.child_photo_date, f.child_birth_year) if f.child_photo_date and f.child_birth_year else None
    gap = round(abs((f.child_photo_date - f.report_photo_date).days) / 365.25, 1) if f.child_photo_date and f.report_photo_date else None
    birth_gap = abs(f.report_birth_year - f.child_birth_year) if f.report_birth_year and f.child_birth_year else None

    if birth_gap is not None and birth_gap > tolerance(child_age):
        flags.append("birth_year_mismatch")
        implausible = True
    if f.child_found and f.report_last_seen and f.child_found < f.report_last_seen:
        flags.append("found_before_last_seen")
        implausible = True
    if f.report_birth_year and any(d and d.year < f.report_birth_year for d in (f.report_photo_date, f.child_photo_date)):
        flags.append("photo_before_birth")
        implausible = True
    if f.report_sex and f.child_sex and f.report_sex.strip().lower()[:1] != f.child_sex.strip().lower()[:1]:
        flags.append("sex_mismatch")
        implausible = True
    judged = birth_gap is not None or (f.child_found and f.report_last_seen)
    if not judged:
        flags.append("dates_missing")
    plausible = False if implausible else (True if judged else None)
    return AgeCheck(report_age, child_age, gap, birth_gap, plausible, tuple(flags))
