"""What the command modules share: the run's ``Services``, the acting person, per-file errors
and the ``--side`` choice.

Heavy imports (models, FAISS, the database, the web stack) stay inside the commands, so that
``matcher --help`` and a mistyped option answer at once.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path

import typer

from matcher.errors import MatcherError
from matcher.settings import Settings
from matcher.types import Side


def get_services(ctx: typer.Context):
    """The ``Services`` of this run, built from ``Settings()`` on first use (lazily: commands
    that need no models or database stay fast)."""
    from matcher.container import Services  # heavy: pipelines, SQLAlchemy

    if ctx.obj is None:
        ctx.obj = Services(Settings())
    return ctx.obj


def per_file(path: Path, out: dict, work) -> int:
    """Run one file's work; a person's mistake (bad file) goes into ``out["error"]`` and the
    run continues. Returns 1 when the file failed."""
    try:
        work()
        return 0
    except MatcherError as exc:
        if exc.status >= 500:
            raise
        out["error"] = {"code": exc.code, "message": exc.message}
    except OSError as exc:
        out["error"] = {"code": "unreadable_file", "message": f"cannot read {path}: {exc.strerror}"}
    return 1


def actor() -> str:
    """Who runs this command, as the audit log records it."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


class SideChoice(StrEnum):
    """``--side``: the public (plural) spelling of a side."""

    children = "children"
    reports = "reports"

    @property
    def record_side(self) -> Side:
        return Side.from_plural(self.value)
