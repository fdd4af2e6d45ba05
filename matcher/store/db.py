"""Engine, sessions and migrations. SQLite (WAL) by default, PostgreSQL by URL.

Busy databases: SQLite has one writer at a time. Python's sqlite3 driver begins a
transaction just before its first write, so a writer never holds an old snapshot and a
locked database is *waited for* by SQLite's busy handler (``busy_timeout_s``, retried
internally) rather than failing at once. What still fails after that wait, and a
PostgreSQL deadlock or serialisation failure, is recognised by ``is_busy``: the API answers
503 with ``Retry-After`` (``errors.DatabaseBusy``), never a 500, and ``retrying`` runs a
whole short transaction again. A full disk (``is_disk_full``) is a 507.
"""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session, sessionmaker

from matcher.errors import ConflictError, DatabaseBusy, MatcherError, StorageFullError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")
# PostgreSQL SQLSTATEs worth a retry: serialization_failure, deadlock_detected, lock_not_available
PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
SQLITE_BUSY_WORDS = ("database is locked", "database table is locked", "database is busy")
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
BUSY_MESSAGE = "The database is busy right now; nothing was changed. Please try again in a few seconds."
DISK_FULL_MESSAGE = "The server's storage is full, so the file was not stored (nothing was kept). The operator has to free space; please try again later."
COLLISION_MESSAGE = "This collided with another change made at the same moment; nothing was changed. Please try again."
# what the database driver and the file system raise that ``storage_error`` may translate
STORAGE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, SATimeoutError, OSError)


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # enough connections for every request thread (anyio's 40) plus the job worker and timers:
        # a request must wait for SQLite's lock, not for a pooled connection
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}, pool_size=20, max_overflow=40, pool_timeout=busy_timeout_s
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30, pool_timeout=busy_timeout_s)


def _chain(exc: BaseException | None):
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1


def is_busy(exc: BaseException) -> bool:
    """A locked SQLite database (after its busy wait) or a PostgreSQL deadlock/serialisation
    failure: the transaction did nothing and may simply be run again."""
    for e in _chain(exc):
        if isinstance(e, SATimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(e, DBAPIError):
            e = e.orig or e
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if state in PG_RETRY_STATES:
            return True
        if type(e).__name__ == "OperationalError" and any(w in str(e).lower() for w in SQLITE_BUSY_WORDS):
            return True
    return False


def is_disk_full(exc: BaseException) -> bool:
    """No space left (or over quota) while writing a file or the database."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(e, DBAPIError):
            e = e.orig or e
        message = str(e).lower()
        if type(e).__name__ == "OperationalError" and ("database or disk is full" in message or "no space left" in message):
            return True
        if getattr(e, "sqlstate", None) == "53100":  # PostgreSQL disk_full
            return True
    return False


def storage_error(exc: BaseException) -> MatcherError | None:
    """The store's errors as a person meets them (``errors.py`` classes, each with its HTTP
    status): a busy database (``DatabaseBusy``, 503), a full disk (``StorageFullError``,
    507), two concurrent changes colliding on a unique constraint (``ConflictError``, 409).
    None for anything else: a bug, not the person's to fix (the API answers 500)."""
    if is_busy(exc):
        return DatabaseBusy(BUSY_MESSAGE)
    if is_disk_full(exc):
        return StorageFullError(DISK_FULL_MESSAGE)
    if isinstance(exc, IntegrityError):
        return ConflictError(COLLISION_MESSAGE)
    return None


def retrying(work: Callable[[], T], attempts: int = 4, pause_s: float = 0.05) -> T:
    """Run ``work`` (one whole transaction) again when the database was busy; after the last
    attempt a ``DatabaseBusy`` (503) instead of the driver's error."""
    for attempt in range(attempts):
        try:
            return work()
        except Exception as exc:
            if not is_busy(exc):
                raise
            if attempt == attempts - 1:
                raise DatabaseBusy(BUSY_MESSAGE) from exc
            time.sleep(pause_s * (2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def alembic_config(engine: Engine):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (idempotent)."""
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def schema_revision(engine: Engine, head: str | None = None) -> tuple[str | None, str]:
    """``(current, head)``: the schema revision the database is at (after a ``SELECT 1`` that
    proves it answers) and the newest one this code knows (``head``, when already read)."""
    if head is None:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return current, head
