"""Request dependencies: services, the signed-in principal, role guards, rate limits."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Request

from matcher.errors import ForbiddenError, RateLimited
from matcher.services.accounts import Principal
from matcher.services.container import Services

# database ids in paths: positive and within 64-bit range (larger ones are a 422, not a crash)
Id = Annotated[int, Path(ge=1, le=2**62)]


class RateLimiter:
    """Sliding one-minute window per (token, action), in memory (one process)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[int, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, token_id: int, action: str, per_minute: int) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[(token_id, action)]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= per_minute:
                raise RateLimited(f"Too many {action} requests; at most {per_minute} a minute. Try again shortly.")
            hits.append(now)


def get_services(request: Request) -> Services:
    return request.app.state.services


def principal(request: Request, svc: Services = Depends(get_services)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return svc.accounts.authenticate(token.strip() if scheme.lower() == "bearer" else None)


def require(*roles: str) -> Callable[..., Principal]:
    def guard(who: Principal = Depends(principal)) -> Principal:
        if who.role not in roles:
            raise ForbiddenError(f"This needs one of these roles: {', '.join(roles)}.")
        return who

    return guard


def limited(action: str, setting: str) -> Callable[..., None]:
    def check(request: Request, who: Principal = Depends(principal)) -> None:
        per_minute = getattr(request.app.state.services.settings, setting)
        request.app.state.rate_limiter.check(who.token_id, action, per_minute)

    return check


def request_id(request: Request) -> str:
    return request.state.request_id
