"""The language switcher: ``/lang/{code}?next=/path`` remembers the choice in a cookie
(a year; not a secret, so readable by nobody but the server's pages) and goes back."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from matcher.web.common import cookie_args, redirect
from matcher.web.i18n import LANG_COOKIE, LANG_COOKIE_AGE, LANGUAGES

router = APIRouter(include_in_schema=False)


def safe_next(url: str) -> str:
    """Only a path of this site (no ``//host``, no backslashes): else the front door."""
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else "/"


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = Query("/", max_length=1024)) -> Response:
    response = redirect(safe_next(next))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_AGE, **{**cookie_args(request), "samesite": "lax"})
    return response
