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
from matcher.web import admin, family, images, review, shelter, sightings, signin
from matcher.web.common import HERE, PageForbidden, SignInNeeded, is_page, redirect, render, store
from matcher.web.cookies import COOKIE, SessionStore

ERROR_TITLES = {404: "Not found", 403: "Not allowed", 409: "Already decided", 429: "Please slow down"}


def mount_pages(app: FastAPI) -> None:
    """Static files, the pages' routers, a session store, and HTML answers for page errors."""
    app.state.web_sessions = SessionStore(app.state.services)  # rows in the database: shared by workers, kept across restarts
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (signin, images, review, family, shelter, admin, sightings):
        app.include_router(module.router)
    json_handler = app.exception_handlers.get(MatcherError)

    async def need_sign_in(request: Request, _: SignInNeeded) -> Response:
        return redirect("/signin?next=" + quote(request.url.path))

    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", store(request).get(request.cookies.get(COOKIE)), 403, title="Not allowed", message=exc.message)

    async def matcher_error(request: Request, exc: MatcherError) -> Response:
        if not is_page(request.url.path) or request.url.path.startswith("/img"):
            return await json_handler(request, exc)
        s = store(request).get(request.cookies.get(COOKIE))
        title = ERROR_TITLES.get(exc.status, "Something is not right")
        return render(request, "error.html", s, exc.status, title=title, message=exc.message)

    app.add_exception_handler(SignInNeeded, need_sign_in)
    app.add_exception_handler(PageForbidden, forbidden)
    if json_handler is not None:
        app.add_exception_handler(MatcherError, matcher_error)
