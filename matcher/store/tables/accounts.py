"""Accounts and the request state shared by every API worker and kept across restarts: users,
bearer tokens (only their hash), web page sessions (``store.web_sessions``) and rate-limit
windows (``store.rate_windows``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from matcher.store.base import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # one of types.USER_ROLES
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # never the token itself
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSessionRow(Base):
    """A signed-in web page session (``store.web_sessions``). The cookie holds a random id;
    only its sha256 is stored here, so a copy of the database signs nobody in. In the
    database (not in one process's memory) so a restart or a second API worker keeps it;
    the bearer token behind it is re-checked on every request."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_seen_at", "seen_at"),)

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))  # the role signed in with: a changed role ends the session
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    flash: Mapped[list] = mapped_column(JSON, default=list)  # messages shown once on the next page


class RateWindow(Base):
    """The last minute of one token's requests of one kind (``api.limits``'s sliding window),
    shared by every API worker: ``hits`` are epoch seconds."""

    __tablename__ = "rate_windows"

    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    hits: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[float] = mapped_column(Float)
