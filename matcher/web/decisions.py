"""What a reviewer's decision post (a candidate's or a sighting's) does before anything is
recorded: a post without a verdict goes back with a message, and a post not yet confirmed
(the page's script asks in place and sends ``sure=yes``; without it nobody asked) answers
the confirm page. Shared by ``web.review`` and ``web.sightings``."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from matcher.types import Verdict
from matcher.web.common import redirect, render
from matcher.web.cookies import WebSession
from matcher.web.i18n import Language

VERDICTS = tuple(Verdict)
NOTE_MAX = 4000


def clean_note(note: str) -> str | None:
    """A reviewer's note as stored: trimmed, at most ``NOTE_MAX`` characters, None when empty."""
    return note.strip()[:NOTE_MAX] or None


def not_yet(
    request: Request,
    s: WebSession,
    tr: Language,
    verdict: str,
    note: str,
    sure: str,
    *,
    title: str,
    questions: dict[str, str],
    object_id: int,
    action: str,
    back: str,
    hidden: dict[str, str] | None = None,
) -> Response | None:
    """The answer to a decision post that must not be recorded yet, or None to record it.
    ``questions``: verdict -> msgid with ``%(id)s``, asked on the confirm page."""
    if verdict not in VERDICTS:
        s.flash.append(tr.gettext("Choose confirm, reject or unsure."))
        return redirect(back)
    if sure == "yes":
        return None
    return render(
        request,
        "review_confirm.html",
        s,
        title=title,
        question=tr.gettext(questions[verdict]) % {"id": object_id},
        verdict=verdict,
        note=note[:NOTE_MAX],
        action=action,
        hidden=hidden or {},
        back=back,
    )
