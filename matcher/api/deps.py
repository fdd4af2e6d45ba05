"""Request dependencies: services, the signed-in principal, role guards, rate limits (counted in
the database by ``store.rate_windows``, so every worker and a restart see the same minute)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Request

from matcher.container import Services
from matcher.errors import ForbiddenError
from matcher.types import Principal

# database ids in paths: positive and within 64-bit range (larger ones are a 422, not a crash)
Id = Annotated[int, Path(ge=1, le=2**62)]


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]  # what every route and page takes


def principal(svc: ServicesDep, request: Request) -> Principal:
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
        svc = request.app.state.services
        svc.rate_limits.check(who.token_id, action, getattr(svc.settings, setting))

    return check


def request_id(request: Request) -> str:
    return request.state.request_id
