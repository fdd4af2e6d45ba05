"""Mounting the pages on the API's app: static files, one router per audience, a session
store, and HTML answers for errors on page paths (JSON stays JSON under ``/v1`` and ``/img``).

Pages live outside ``/v1``; every POST form carries the session's CSRF token.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from matcher.errors import MatcherError
from matcher.web import admin, family, images, language, reviewer, shelter, sightings, signin
from matcher.web.common import HERE, PageForbidden, SignInNeeded, is_page, redirect, render, store
from matcher.web.common import language as language_of
from matcher.web.cookies import COOKIE, SessionStore
from matcher.web.i18n import Catalogues
from matcher.web.messages import N_, error_message

ERROR_TITLES = {404: N_("Not found"), 403: N_("Not allowed"), 409: N_("Already decided"), 429: N_("Please slow down"), 503: N_("Please try again soon")}
OTHER_ERROR = N_("Something is not right")


def mount_pages(app: FastAPI) -> None:
    """Static files, the pages' routers, a session store, and HTML answers for page errors."""
    app.state.catalogues = Catalogues()  # every language's catalogue, compiled in memory now
    app.state.web_sessions = SessionStore(app.state.services)  # rows in the database: shared by workers, kept across restarts
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (signin, language, images, reviewer, family, shelter, admin, sightings):
        app.include_router(module.router)
    json_handler = app.exception_handlers.get(MatcherError)

    async def need_sign_in(request: Request, _: SignInNeeded) -> Response:
        return redirect("/signin?next=" + quote(request.url.path))

    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        tr = language_of(request)
        s = store(request).get(request.cookies.get(COOKIE))
        if exc.reason == "csrf":
            message = tr.gettext("This form has expired or did not come from this site. Go back, reload the page and try again.")
        else:
            message = tr.gettext("This page is for other accounts than yours.")
        return render(request, "error.html", s, 403, title=tr.gettext("Not allowed"), message=message)

    async def matcher_error(request: Request, exc: MatcherError) -> Response:
        if not is_page(request.url.path) or request.url.path.startswith("/img"):
            return await json_handler(request, exc)
        tr = language_of(request)
        s = store(request).get(request.cookies.get(COOKIE))
        title = tr.gettext(ERROR_TITLES.get(exc.status, OTHER_ERROR))
        response = render(request, "error.html", s, exc.status, title=title, message=error_message(tr, exc), code=exc.code)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    app.add_exception_handler(SignInNeeded, need_sign_in)
    app.add_exception_handler(PageForbidden, forbidden)
    if json_handler is not None:
        app.add_exception_handler(MatcherError, matcher_error)
