"""Review commands: ``queue``, ``candidate``, ``decide``, ``audit``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from matcher.cli.common import actor, get_services
from matcher.types import Role


def queue(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open | unsure | awaiting_second | confirmed | rejected | all")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    kind: Annotated[str | None, typer.Option(help="match | duplicate")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The review queue, strongest (lowest false-match rate, plausible first) first."""
    rows = get_services(ctx).review.queue(None if status == "all" else status, limit, kind)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        flags = ",".join(r["evidence"].get("flags", [])) or "-"
        typer.echo(
            f"#{r['id']:<5} {r['kind']:<9} report {r['report_id']:<20} child {r['child_id']:<20} score {r['score']:.3f}  fmr {r['fmr']:.2g}  {r['status']}  flags {flags}"
        )


def candidate(
    ctx: typer.Context,
    candidate_id: int,
    reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One candidate with its evidence and both records (the view is audited)."""
    row = get_services(ctx).review.candidate(candidate_id, reviewer or actor(), Role.REVIEWER)
    typer.echo(json.dumps(row, indent=None if as_json else 2, default=str))


def decide(
    ctx: typer.Context,
    candidate_id: int,
    verdict: Annotated[str, typer.Argument(help="confirmed | rejected | unsure")],
    note: Annotated[str | None, typer.Option(help="why")] = None,
    reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None,
) -> None:
    """Record a reviewer's decision on a candidate."""
    row = get_services(ctx).review.decide(candidate_id, verdict, reviewer or actor(), note)
    typer.echo(f"candidate {row['id']} is now {row['status']}")


def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="ISO date or datetime (UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Audit events as JSON lines (who, role, action, object, time)."""
    start = dt.datetime.fromisoformat(since) if since else None
    for event in get_services(ctx).audit.events(start, limit):
        typer.echo(json.dumps(event))
