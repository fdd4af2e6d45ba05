"""Users, roles and bearer tokens. Tokens are 32 random bytes shown once; only their
sha256 is stored (a token is high-entropy, so a fast hash is enough to make a stolen
database useless for signing in)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import InputError, MatcherError
from matcher.store.models import Token, User, utcnow

ROLES = ("family", "shelter", "reviewer", "admin")
STAFF = ("shelter", "reviewer", "admin")


class AuthError(MatcherError):
    status = 401
    code = "unauthenticated"


class ForbiddenError(MatcherError):
    status = 403
    code = "forbidden"


class ConflictError(MatcherError):
    status = 409
    code = "conflict"


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    role: str
    token_id: int

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: str) -> User:
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 128:
        raise InputError("a user name of 1 to 128 characters is required")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise ConflictError(f"user '{name}' already exists")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    return user


def create_token(session: Session, user: User, days: float | None = 90) -> tuple[str, Token]:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    row = Token(user_id=user.id, token_sha256=hash_token(token), expires_at=expires)
    session.add(row)
    session.flush()
    return token, row


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise AuthError("Sign-in required: send 'Authorization: Bearer <token>'.")
    row = session.scalar(select(Token).where(Token.token_sha256 == hash_token(token)))
    if row is None or row.revoked:
        raise AuthError("This token is not valid.")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise AuthError("This token has expired; ask an administrator for a new one.")
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        raise AuthError("This account is disabled.")
    return Principal(user.id, user.name, user.role, row.id)
