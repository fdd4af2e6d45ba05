"""Helpers for HTTP tests: accounts with tokens, and counting what is stored."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from matcher.services.accounts import create_token, create_user
from matcher.store.tables import AuditEvent, Candidate, Embedding, Face, Media, Record, Token

ROLES = ("family", "shelter", "reviewer", "admin")


@dataclass(frozen=True)
class Accounts:
    tokens: dict[str, str]  # name -> token
    expired: str
    revoked: str

    def auth(self, name: str | None) -> dict:
        if name is None:
            return {}
        token = {"wrong": "not-a-real-token", "expired": self.expired, "revoked": self.revoked}.get(name) or self.tokens[name]
        return {"Authorization": f"Bearer {token}"}


def make_accounts(services, names: dict[str, str]) -> Accounts:
    """names: account name -> role. Adds an expired and a revoked family token."""
    tokens = {}
    with services.sessions.begin() as session:
        users = {name: create_user(session, name, role) for name, role in names.items()}
        for name, user in users.items():
            tokens[name], _ = create_token(session, user, 1)
        ghost = create_user(session, "expired-family", "family")
        expired, row = create_token(session, ghost, 1)
        row.expires_at = dt.datetime(2000, 1, 1)
        revoked, row = create_token(session, ghost, 1)
        row.revoked = True
    return Accounts(tokens, expired, revoked)


def store_counts(services) -> dict:
    with services.sessions() as session:
        counts = {model.__tablename__: session.scalar(select(func.count()).select_from(model)) for model in (Record, Media, Face, Embedding, Candidate, Token)}
        counts["audit"] = session.scalar(select(func.count()).select_from(AuditEvent))
    counts["blobs"] = services.blobs.count()
    counts["temp_files"] = sum(1 for p in services.settings.data_dir.rglob("*") if p.name.endswith(".tmp"))
    return counts
