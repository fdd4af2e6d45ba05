"""Cookie sessions for the web pages.

The cookie holds only a random session id (32 bytes, URL-safe); the signed-in principal,
the session's CSRF token and its one-time messages live server-side in the database
(``store.web_sessions``), so a restart or a second API worker keeps everyone signed in.
The bearer token a person pasted is checked once with ``authenticate`` and is never
stored. Each request re-checks the token (``AccountService.still_valid``), so revoking a
token, its expiry or disabling the account ends the web session too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from matcher.container import Services
from matcher.types import Principal

COOKIE = "matcher_session"
PRE_COOKIE = "matcher_signin"  # double-submit CSRF token for the sign-in form (no session yet)


class Flash(list):
    """One-time messages for the next page; every change is written through to the session
    row (the next request may be served by another worker)."""

    def __init__(self, items: Iterable[str], save: Callable[[list[str]], None]) -> None:
        super().__init__(items)
        self._save = save

    def append(self, message: str) -> None:
        super().append(message)
        self._save(list(self))

    def clear(self) -> None:
        if self:
            super().clear()
            self._save([])


@dataclass
class WebSession:
    id: str
    principal: Principal
    csrf: str
    flash: list[str] = field(default_factory=list)


class SessionStore:
    """The pages' view of ``store.web_sessions`` (no database access here)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def _backend(self):
        return self.services.web_sessions

    def create(self, principal: Principal) -> WebSession:
        return self._wrap(self._backend.create(principal))

    def get(self, session_id: str | None) -> WebSession | None:
        stored = self._backend.get(session_id)
        return self._wrap(stored) if stored else None

    def drop(self, session_id: str | None) -> None:
        self._backend.drop(session_id)

    def _wrap(self, stored) -> WebSession:
        sid = stored.id
        return WebSession(sid, stored.principal, stored.csrf, Flash(stored.flash, lambda messages: self._backend.set_flash(sid, messages)))


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(a.encode(), b.encode())
