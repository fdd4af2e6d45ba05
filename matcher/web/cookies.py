"""Cookie sessions for the web pages.

The cookie holds only a random session id (32 bytes, URL-safe); the signed-in principal
and the session's CSRF token live server-side, in memory (one process, like the rate
limiter). The bearer token a person pasted is checked once with ``authenticate`` and is
never stored. Each request re-checks the token (``AccountService.still_valid``), so revoking
a token, its expiry or disabling the account ends the web session too.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from matcher.services.accounts import Principal

COOKIE = "matcher_session"
PRE_COOKIE = "matcher_signin"  # double-submit CSRF token for the sign-in form (no session yet)
IDLE_SECONDS = 8 * 3600
MAX_SECONDS = 24 * 3600


@dataclass
class WebSession:
    id: str
    principal: Principal
    csrf: str
    created: float
    seen: float
    flash: list[str] = field(default_factory=list)


class SessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def create(self, principal: Principal) -> WebSession:
        now = time.monotonic()
        s = WebSession(secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[s.id] = s
        return s

    def get(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None:
                return None
            if now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS:
                del self._sessions[session_id]
                return None
            s.seen = now
            return s

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for sid in [k for k, s in self._sessions.items() if now - s.seen > IDLE_SECONDS or now - s.created > MAX_SECONDS]:
            del self._sessions[sid]


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(a.encode(), b.encode())
