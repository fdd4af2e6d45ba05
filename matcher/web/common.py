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
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from matcher.api.deps import ServicesDep
from matcher.types import Role
from matcher.web.cookies import COOKIE, SessionStore, WebSession, same
from matcher.web.i18n import LANG_COOKIE, LANGUAGES, Language, choose
from matcher.web.messages import error_words, problem_words, rate_words, value_words

HERE = Path(__file__).parent
PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store, private"}
IMG_HEADERS = {"Cache-Control": "no-store, private", "Content-Security-Policy": "default-src 'none'"}
PAGE_PREFIXES = ("/signin", "/signout", "/review", "/my", "/admin", "/img", "/shelter", "/lang")
HOME = {Role.FAMILY: "/my", Role.REVIEWER: "/review", Role.ADMIN: "/admin", Role.SHELTER: "/shelter"}

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
env.newstyle_gettext = True  # ``_("... %(n)s", n=...)``: autoescaped, formatted by name (gettext callables come with each render)


def language(request: Request) -> Language:
    """The request's language: the switcher's cookie, else ``Accept-Language``, else English."""
    code = choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return request.app.state.catalogues.get(code)


# ---- filters that format for the page's language (the template's ``lang``) ----
@pass_context
def _num(ctx, value: float | None, digits: int = 2) -> str:
    return ctx["lang"].number(value, digits)


@pass_context
def _percent(ctx, value: float | None) -> str:
    """A rate as a reviewer reads it: ``0.004`` -> ``0.4 %``, tiny ones as ``< 0.01 %``."""
    lang: Language = ctx["lang"]
    if value is None:
        return lang.gettext("unknown")
    pct = 100 * float(value)
    if pct < 0.01:
        return lang.gettext("less than 0.01 %%") % {}
    return lang.number(pct, 2 if pct < 0.1 else 1 if pct < 10 else 0) + "\u00a0%"


@pass_context
def _age(ctx, value: float | None) -> str:
    """Years as given: ``4.0`` -> ``4``, ``4.5`` -> ``4.5`` (in the page's digits)."""
    lang: Language = ctx["lang"]
    return lang.gettext("unknown") if value is None else lang.number(float(value), None)


@pass_context
def _fmr_words(ctx, value: float | None) -> str:
    return rate_words(ctx["lang"], value, short=False)


@pass_context
def _fmr_short(ctx, value: float | None) -> str:
    return rate_words(ctx["lang"], value, short=True)


@pass_context
def _date(ctx, value, style: str = "medium") -> str:
    return ctx["lang"].date(value, style)


@pass_context
def _words(ctx, value: str | None) -> str:
    """A stored enum value in words of the page's language (``under review``, ``awaiting_second``...)."""
    return value_words(ctx["lang"], value)


env.filters.update(num=_num, percent=_percent, age_words=_age, fmr_words=_fmr_words, fmr_short=_fmr_short, date=_date, words=_words)
env.filters["flag_words"] = _words
env.filters["problem_words"] = pass_context(lambda ctx, code: problem_words(ctx["lang"], code))
env.filters["error_words"] = pass_context(lambda ctx, error: error_words(ctx["lang"], error))


# ---- errors that pages answer in HTML (see ``matcher.web.app.mount_pages``) ----
class SignInNeeded(Exception):
    """No (valid) cookie session: pages redirect to the sign-in form."""


class PageForbidden(Exception):
    """Signed in, but not allowed here: ``reason`` is ``"role"`` (this page is for other
    accounts) or ``"csrf"`` (a form without the session's token); the page says it in words."""

    def __init__(self, reason: str, roles: tuple[str, ...] = ()) -> None:
        self.reason = reason
        self.roles = roles


def is_page(path: str) -> bool:
    return path == "/" or path.startswith(PAGE_PREFIXES)


# ---- sessions, principals, CSRF ----
def store(request: Request) -> SessionStore:
    return request.app.state.web_sessions


def current(svc: ServicesDep, request: Request) -> WebSession | None:
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
            raise PageForbidden("role", roles)
        return s

    return guard


REVIEW = role(Role.REVIEWER, Role.ADMIN)
FAMILY = role(Role.FAMILY, Role.ADMIN)
SHELTER = role(Role.SHELTER, Role.ADMIN)
ADMIN = role(Role.ADMIN)


def check_csrf(s: WebSession, token: str) -> None:
    if not same(s.csrf, token):
        raise PageForbidden("csrf")


# ---- responses ----
def render(request: Request, name: str, s: WebSession | None = None, status: int = 200, **ctx) -> HTMLResponse:
    flash = list(s.flash) if s else []
    if s:
        s.flash.clear()
    lang = language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = env.get_template(name).render(
        request=request,
        me=s.principal if s else None,
        csrf=s.csrf if s else "",
        flash=flash,
        lang=lang,
        languages=LANGUAGES,
        here=here,
        **lang.jinja(),
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, "Content-Language": lang.code})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def cookie_args(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}
