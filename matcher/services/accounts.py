"""Users, roles and bearer tokens. Tokens are 32 random bytes shown once; only their
sha256 is stored (a token is high-entropy, so a fast hash is enough to make a stolen
database useless for signing in)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import AuthError, ConflictError, InputError, NotFoundError
from matcher.store import repo
from matcher.store.tables import Token, User, utcnow
from matcher.types import USER_ROLES, Principal, Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: str) -> User:
    if role not in USER_ROLES:
        raise InputError(f"role must be one of {', '.join(USER_ROLES)}")
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


def still_valid(session: Session, principal: Principal) -> bool:
    """Whether a signed-in principal's token and account still hold (revocation, expiry,
    a disabled account or a changed role end a web session at its next request)."""
    row = session.get(Token, principal.token_id)
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= utcnow()):
        return False
    user = session.get(User, principal.user_id)
    return user is not None and not user.disabled and user.role == principal.role


class AccountService:
    """Users and tokens as the CLI, the API and the admin pages use them (audited)."""

    def __init__(self, sessions: sessionmaker[Session], token_days: float) -> None:
        self._sessions = sessions
        self._token_days = token_days  # MATCHER_TOKEN_DAYS: a new token's lifetime when none is given

    def authenticate(self, token: str | None) -> Principal:
        with self._sessions() as session:
            return authenticate(session, token)

    def still_valid(self, principal: Principal) -> bool:
        with self._sessions() as session:
            return still_valid(session, principal)

    def add_user(self, name: str, role: str, actor: str) -> dict:
        with self._sessions.begin() as session:
            user = create_user(session, name, role)
            repo.audit(session, actor, Role.ADMIN, "user_create", "user", name, granted_role=role)
            return {"id": user.id, "name": user.name, "role": user.role}

    def list_users(self) -> list[dict]:
        with self._sessions() as session:
            return [{"id": u.id, "name": u.name, "role": u.role, "disabled": u.disabled} for u in session.scalars(select(User).order_by(User.id))]

    def create_token(self, user_name: str, days: float | None, actor: str) -> dict:
        """A new token for a user, shown once (only its hash is stored)."""
        with self._sessions.begin() as session:
            user = session.scalar(select(User).where(User.name == user_name))
            if user is None:
                raise NotFoundError(f"no user '{user_name}'")
            token, row = create_token(session, user, days or self._token_days)
            repo.audit(session, actor, Role.ADMIN, "token_create", "user", user_name, token_id=row.id)
            return {"token": token, "id": row.id, "user": user.name, "role": user.role, "expires_at": row.expires_at.isoformat() if row.expires_at else None}

    def revoke_token(self, token_id: int, actor: str) -> dict:
        with self._sessions.begin() as session:
            row = session.get(Token, token_id)
            if row is None:
                raise NotFoundError(f"no token {token_id}")
            row.revoked = True
            repo.audit(session, actor, Role.ADMIN, "token_revoke", "token", str(token_id))
            return {"id": token_id, "revoked": True}

    def tokens(self, limit: int = 500) -> list[dict]:
        """Tokens newest first with their user (never the token itself: only its hash is kept)."""
        with self._sessions() as session:
            query = select(Token, User.name, User.role).join(User, User.id == Token.user_id).order_by(Token.id.desc()).limit(limit)
            return [
                {"id": t.id, "user": name, "role": role, "created": t.created_at, "expires": t.expires_at, "revoked": t.revoked}
                for t, name, role in session.execute(query)
            ]
