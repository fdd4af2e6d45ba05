"""Words the pages show that come from code rather than templates, marked for translation:
the message for each error ``code`` of the JSON API, stored values (statuses, verdicts, sex,
flags) in words, and false-match rates in words. The API keeps its English messages and
stable codes; a page shows ``error_message(lang, exc)`` instead.
"""

from __future__ import annotations

import math

from matcher.errors import MatcherError


def N_(message: str) -> str:
    return message


# every MatcherError code a person can meet on a page, in plain words
ERRORS: dict[str, str] = {
    "bad_input": N_("Something in the form or the file could not be used. Please check it and try again."),
    "invalid_field": N_("A value in the form is not valid. Please check it and try again."),
    "empty_file": N_("The file is empty. Please choose the photo again."),
    "file_too_large": N_("The file is too large. Please send a smaller photo or a shorter video."),
    "image_too_large": N_("The picture is too large (too many pixels). Please send a smaller photo."),
    "unsupported_media_type": N_("This kind of file cannot be used. Please send a photo (JPEG, PNG, HEIC, WebP) or a video (MP4, MOV, WebM)."),
    "corrupt_image": N_("This photo is damaged or incomplete and cannot be opened. Please send it again or choose another one."),
    "corrupt_video": N_("This video is damaged or incomplete and cannot be played. Please send it again or choose another one."),
    "unauthenticated": N_("Please sign in again."),
    "forbidden": N_("You are not allowed to do this with your account."),
    "not_found": N_("This page or record does not exist, or you cannot see it."),
    "candidate_not_found": N_("This candidate does not exist any more."),
    "original_purged": N_("The original file was removed under the retention rules."),
    "conflict": N_("This was changed at the same time by someone else, or it already exists. Please reload the page."),
    "invalid_transition": N_("This was already decided. Please reload the page."),
    "second_reviewer_required": N_("A second reviewer must confirm this: the first confirmation was yours."),
    "rate_limited": N_("Too many requests in a short time. Please wait a minute and try again."),
    "busy": N_("We are busy right now. Please try again in a minute."),
    "model_unavailable": N_("Face recognition is not available right now. Please try again later."),
    "model_file_missing": N_("Face recognition is not available right now. Please try again later."),
    "model_checksum_mismatch": N_("Face recognition is not available right now. Please try again later."),
    "unknown_model_pack": N_("Face recognition is not available right now. Please try again later."),
    "index_error": N_("Searching is not available right now. Please try again later."),
    "index_corrupt": N_("Searching is not available right now. Please try again later."),
    "index_mismatch": N_("Searching is not available right now. Please try again later."),
    "database_busy": N_("We are busy right now. Please try again in a few seconds."),
    "storage_full": N_("The server has no room left to store files. Staff have been told; please try again later."),
    "data_protection": N_("Stored data could not be read safely. Staff have been told."),
    "data_key": N_("Stored data could not be read safely. Staff have been told."),
    "blob_integrity": N_("Stored data could not be read safely. Staff have been told."),
    "blob_missing": N_("A stored file is missing. Staff have been told."),
}
FALLBACK = N_("Something went wrong. Please try again; if it happens again, tell the staff who gave you access.")

# stored values shown to people (statuses, verdicts, kinds, sexes, flags)
VALUES: dict[str, str] = {
    "received": N_("received"),
    "under review": N_("under review"),
    "closed": N_("closed"),
    "open": N_("open"),
    "unsure": N_("unsure"),
    "awaiting_second": N_("awaiting a second reviewer"),
    "confirmed": N_("confirmed"),
    "rejected": N_("rejected"),
    "superseded": N_("superseded"),
    "withdrawn": N_("withdrawn"),
    "all": N_("all"),
    "match": N_("match"),
    "duplicate": N_("duplicate"),
    "sighting": N_("sighting"),
    "female": N_("female"),
    "male": N_("male"),
    "unknown": N_("unknown"),
    "photo": N_("photo"),
    "video": N_("video"),
    "family": N_("family"),
    "shelter": N_("shelter"),
    "reviewer": N_("reviewer"),
    "admin": N_("admin"),
    "staff": N_("staff"),
    "system": N_("system"),
    "queued": N_("waiting to start"),
    "running": N_("running"),
    "done": N_("finished"),
    "checking": N_("checking the archive"),
    "analysing": N_("finding faces in the photos"),
    "matching": N_("comparing with the reports"),
    "failed": N_("failed"),
    "same": N_("same"),
    "similar": N_("similar"),
    "different": N_("different"),
    "plausible": N_("plausible"),
    "implausible": N_("implausible"),
    "birth_year_mismatch": N_("birth years do not fit"),
    "found_before_last_seen": N_("found before last seen"),
    "photo_before_birth": N_("photo before birth"),
    "sex_mismatch": N_("sex differs"),
    "dates_missing": N_("dates missing"),
}


# problems of an archive import (``ImportService``'s problem codes), as shelter staff read them
PROBLEMS: dict[str, str] = {
    "no_face": N_("No face found in this photo."),
    "corrupt_image": N_("The photo is damaged or incomplete."),
    "corrupt_video": N_("The video is damaged or incomplete."),
    "unsupported_media_type": N_("Not a photo or video that can be used."),
    "not_media": N_("Not a photo or a video: ignored."),
    "empty_file": N_("The file is empty."),
    "file_too_large": N_("The file is too large."),
    "image_too_large": N_("The picture has too many pixels."),
    "unsafe_name": N_("The file name is not safe (it points outside the archive): ignored."),
    "empty_folder": N_("This child's folder has no photos."),
    "erased_record": N_("This file belonged to an erased record: not imported again."),
    "partial_video": N_("Only the readable part of the video was used."),
    "unreadable_file": N_("The file could not be read."),
    "missing_file": N_("manifest.csv names a file that is not in the archive."),
    "not_in_manifest": N_("This file is not listed in manifest.csv: ignored."),
    "duplicate_name": N_("Two files in the archive have the same name: the second was ignored."),
    "not_in_folder": N_("This file is not inside a child's folder: ignored."),
    "bad_record_number": N_("The folder name cannot be used as a record number (letters, digits, - _ . / only)."),
    "enhanced_photo": N_("A face was found only after brightening and enlarging the photo: please check it."),
}


def problem_words(lang, code: str | None) -> str:
    return lang.gettext(PROBLEMS[code]) if code in PROBLEMS else lang.gettext("This file could not be used.")


def error_words(lang, error: dict | None) -> str:
    """A job's ``{"code", "message"}`` error in the page's language."""
    return lang.gettext(ERRORS.get((error or {}).get("code", ""), FALLBACK))


def value_words(lang, value: str | None) -> str:
    """A stored value in the page's language; unknown values shown with spaces for underscores."""
    if value is None or value == "":
        return lang.gettext("unknown")
    key = str(value)
    if key in VALUES:
        return lang.gettext(VALUES[key])
    return key.replace("_", " ")


def error_message(lang, exc: MatcherError) -> str:
    """What a page says for an error: the translation for its code (English details stay in the API)."""
    return lang.gettext(ERRORS.get(exc.code, FALLBACK))


def rate_words(lang, fmr: float | None, short: bool = False) -> str:
    """A false-match rate in words: "about 1 in 3,000 unrelated pairs score this high"."""
    if fmr is None:
        return lang.gettext("not calibrated")
    if fmr <= 0:
        return lang.gettext("never seen among unrelated pairs")
    n = 1 / fmr
    if n < 10:
        count = lang.number(round(n, 1), None)
    else:
        count = lang.number(int(round(n, -math.floor(math.log10(n)) + 1)), 0)
    if short:
        return lang.gettext("about 1 in %(n)s") % {"n": count}
    return lang.gettext("about 1 in %(n)s unrelated pairs score this high") % {"n": count}
