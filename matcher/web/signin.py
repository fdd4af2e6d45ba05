"""Sign-in with a bearer token (pasted once, never stored), sign-out, and the front door."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from matcher.api.deps import ServicesDep
from matcher.errors import AuthError
from matcher.web.common import HOME, check_csrf, cookie_args, current, language, redirect, render, signed_in, store
from matcher.web.cookies import COOKIE, PRE_COOKIE, WebSession, same

router = APIRouter(include_in_schema=False)


@router.get("/")
def index(s: WebSession | None = Depends(current)) -> Response:
    return redirect(HOME[s.principal.role] if s else "/signin")


@router.get("/signin")
def signin_form(request: Request, next: str = Query("", max_length=512), s: WebSession | None = Depends(current)) -> Response:
    if s is not None:
        return redirect(HOME[s.principal.role])
    return _signin_page(request, next_url=next)


def _safe_next(url: str) -> str | None:
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else None


def _signin_page(request: Request, error: str | None = None, status: int = 200, next_url: str = "") -> Response:
    pre = secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, status, pre=pre, error=error, next_url=_safe_next(next_url) or "")
    response.set_cookie(PRE_COOKIE, pre, max_age=3600, **cookie_args(request))
    return response


@router.post("/signin")
def signin(svc: ServicesDep, request: Request, token: str = Form(""), pre: str = Form(""), next: str = Form("")) -> Response:
    tr = language(request)
    if not same(request.cookies.get(PRE_COOKIE), pre):
        return _signin_page(request, tr.gettext("The sign-in form expired. Please paste your token again."), 403, next)
    try:
        principal = svc.accounts.authenticate(token.strip())
    except AuthError:
        if token.strip():
            message = tr.gettext("This token is not valid: it may be mistyped, expired or revoked.")
        else:
            message = tr.gettext("Paste the token you were given.")
        return _signin_page(request, message, 401, next)
    s = store(request).create(principal)
    response = redirect(_safe_next(next) or HOME[principal.role])
    response.set_cookie(COOKIE, s.id, **cookie_args(request))
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, csrf: str = Form(""), s: WebSession = Depends(signed_in)) -> Response:
    check_csrf(s, csrf)
    store(request).drop(s.id)
    response = redirect("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response
