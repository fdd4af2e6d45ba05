"""What every page module shares: the Jinja environment and ``render``, page headers (a strict
Content-Security-Policy: scripts and styles from this origin only, no inline code), the
cookie session of the request and role guards, CSRF checks, and the two page errors.

Pages are as thin as the JSON routes: they call the same services with the principal of the
cookie session, so the visibility rules of ``RecordService`` and the audit of candidate views
apply unchanged; no page touches the database itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from matcher.api.deps import get_services
from matcher.review.calibration import in_words
from matcher.services.container import Services
from matcher.types import Role
from matcher.web.cookies import COOKIE, SessionStore, WebSession, same

HERE = Path(__file__).parent
PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store, private"}
IMG_HEADERS = {"Cache-Control": "no-store, private", "Content-Security-Policy": "default-src 'none'"}
PAGE_PREFIXES = ("/signin", "/signout", "/review", "/my", "/admin", "/img", "/shelter")
HOME = {Role.FAMILY: "/my", Role.REVIEWER: "/review", Role.ADMIN: "/admin", Role.SHELTER: "/shelter"}

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
env.filters["fmr_words"] = lambda v: in_words(v) if v is not None else "not calibrated"
env.filters["flag_words"] = lambda f: f.replace("_", " ")


def percent(v: float | None) -> str:
    """A rate as a reviewer reads it: ``0.004`` -> ``0.4 %``, tiny ones as ``< 0.01 %``."""
    if v is None:
        return "unknown"
    pct = 100 * float(v)
    if pct < 0.01:
        return "less than 0.01 %"
    return f"{pct:.2g} %" if pct < 10 else f"{pct:.0f} %"


def age_words(v: float | None) -> str:
    """Years as given: ``4.0`` -> ``4``, ``4.5`` -> ``4.5``."""
    return "unknown" if v is None else f"{float(v):g}"


env.filters["percent"] = percent
env.filters["fmr_short"] = lambda v: in_words(v).removesuffix(" score this high") if v is not None else "not calibrated"
env.filters["age_words"] = age_words


# ---- errors that pages answer in HTML (see ``matcher.web.app.mount_pages``) ----
class SignInNeeded(Exception):
    """No (valid) cookie session: pages redirect to the sign-in form."""


class PageForbidden(Exception):
    """Signed in, but not allowed here (role, or a form without the session's CSRF token)."""

    def __init__(self, message: str) -> None:
        self.message = message


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)


# ---- sessions, principals, CSRF ----
def store(request: Request) -> SessionStore:
    return request.app.state.web_sessions


def current(request: Request, svc: Services = Depends(get_services)) -> WebSession | None:
    s = store(request).get(request.cookies.get(COOKIE))
    if s is None:
        return None
    if not svc.accounts.still_valid(s.principal):
        store(request).drop(s.id)
        return None
    return s


def signed_in(s: WebSession | None = Depends(current)) -> WebSession:
    if s is None:
        raise SignInNeeded()
    return s


def role(*roles: str):
    def guard(s: WebSession = Depends(signed_in)) -> WebSession:
        if s.principal.role not in roles:
            raise PageForbidden(f"This page is for {' or '.join(roles)} accounts; you are signed in as {s.principal.role}.")
        return s

    return guard


REVIEW = role(Role.REVIEWER, Role.ADMIN)
FAMILY = role(Role.FAMILY, Role.ADMIN)
SHELTER = role(Role.SHELTER, Role.ADMIN)
ADMIN = role(Role.ADMIN)


def check_csrf(s: WebSession, token: str) -> None:
    if not same(s.csrf, token):
        raise PageForbidden("This form has expired or did not come from this site. Go back, reload the page and try again.")


# ---- responses ----
def render(request: Request, name: str, s: WebSession | None = None, status: int = 200, **ctx) -> HTMLResponse:
    flash = list(s.flash) if s else []
    if s:
        s.flash.clear()
    html = env.get_template(name).render(request=request, me=s.principal if s else None, csrf=s.csrf if s else "", flash=flash, **ctx)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}
