"""Several photos (or videos) in one form, each with the child's age in it: the family's report
form and the shelter's child form share this. Slot 1 is ``photo``/``age``/``year_taken``,
slot n is ``photo_n``/``age_n``/``year_taken_n`` (no JavaScript needed to add rows).

Every slot's age is checked before anything is stored, so a mistake costs nothing; then each
file goes through the one upload path (``services.uploads.receive_media``) and the person gets
one message per file in their language.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from matcher.api.uploads import read_upload
from matcher.errors import InvalidFieldError, MatcherError
from matcher.ingest.photo_age import FIRST_YEAR, MAX_AGE, GivenAge, parse_given_age
from matcher.services.uploads import receive_media
from matcher.types import Principal
from matcher.web.i18n import Language
from matcher.web.messages import error_message

MAX_SLOTS = 6


def slot_fields(n: int) -> tuple[str, str, str]:
    """Form field names of slot ``n`` (1-based): file, age, year taken."""
    return ("photo", "age", "year_taken") if n == 1 else (f"photo_{n}", f"age_{n}", f"year_taken_{n}")


@dataclass(frozen=True)
class PhotoSlot:
    number: int
    upload: UploadFile
    given: GivenAge | None


def _is_file(value) -> bool:
    return value is not None and not isinstance(value, str) and bool(getattr(value, "filename", ""))


def read_slots(form, tr: Language, count: int = MAX_SLOTS) -> tuple[list[PhotoSlot], list[str]]:
    """The slots that carry a file, with their ages checked; errors in the page's language.
    An age given without a file is pointed out too (the person may have forgotten the file)."""
    slots, errors = [], []
    for n in range(1, count + 1):
        photo, age, year = slot_fields(n)
        upload = form.get(photo)
        age_text, year_text = str(form.get(age, "") or ""), str(form.get(year, "") or "")
        try:
            given = parse_given_age(age_text, year_text)
        except InvalidFieldError as exc:
            if exc.field == "year_taken":
                errors.append(
                    tr.gettext("Photo %(n)s: the year the photo was taken must be a 4-digit year from %(first)s to %(last)s.")
                    % {"n": n, "first": FIRST_YEAR, "last": dt.date.today().year}
                )
            else:
                errors.append(
                    tr.gettext("Photo %(n)s: the age must be a number of years from 0 to %(max)s (for example 4 or 2.5).") % {"n": n, "max": int(MAX_AGE)}
                )
            continue
        if _is_file(upload):
            slots.append(PhotoSlot(n, upload, given))
        elif given is not None:
            errors.append(tr.gettext("Photo %(n)s: you gave an age but no photo. Choose the photo, or leave the age empty.") % {"n": n})
    return slots, errors


async def store_slots(request: Request, svc, who: Principal, record_id: int, side: str, slots: list[PhotoSlot], tr: Language) -> list[str]:
    """Store each slot's file (rate-limited like the API); one message per file. A file that
    cannot be used is reported and the others are still stored."""
    messages = []
    for slot in slots:
        name = slot.upload.filename or ""
        try:
            data = await read_upload(svc, slot.upload)
            if not data:
                messages.append(tr.gettext("Photo %(n)s (%(file)s) is empty and was not added.") % {"n": slot.number, "file": name})
                continue
            await run_in_threadpool(svc.rate_limits.check, who.token_id, "upload", svc.settings.rate_uploads_per_minute)
            got = await run_in_threadpool(lambda d=data, s=slot: receive_media(svc, who, record_id, side, d, s.upload.filename, given=s.given))
        except MatcherError as exc:
            if exc.status == 404:
                raise
            if exc.code == "invalid_field":  # the year does not fit the record's year of birth
                reason = tr.gettext("the year or the age does not fit the year of birth. Check them, or leave them empty.")
            else:
                reason = error_message(tr, exc)
            messages.append(tr.gettext("Photo %(n)s (%(file)s) was not added: %(reason)s") % {"n": slot.number, "file": name, "reason": reason})
            continue
        if got.job is not None:
            messages.append(
                tr.gettext("Photo %(n)s (%(file)s): the video is being processed. This can take a few minutes; reload this page to see the faces found.")
                % {"n": slot.number, "file": name}
            )
        elif got.outcome.needs_pick:
            messages.append(tr.gettext("Photo %(n)s (%(file)s) shows several faces: please choose the child below.") % {"n": slot.number, "file": name})
        elif not got.outcome.faces:
            messages.append(
                tr.gettext("Photo %(n)s (%(file)s): we could not find a face. A clearer photo of the face would help.") % {"n": slot.number, "file": name}
            )
        else:
            messages.append(tr.gettext("Photo %(n)s (%(file)s) was received.") % {"n": slot.number, "file": name})
    return messages
