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
    kind: Annotated[str | None, typer.Option(help="match | duplicate | sighting")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The review queue, strongest (lowest false-match rate, plausible first) first: candidates
    and sightings (open one with `matcher candidate ID` or `matcher sighting ID`)."""
    from matcher.services.review_queue import leads

    if kind not in (None, "match", "duplicate", "sighting"):
        raise typer.BadParameter("match, duplicate or sighting", param_hint="--kind")
    rows = leads(get_services(ctx), None if status == "all" else status, limit, kind)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(queue_line(r))


def queue_line(r: dict) -> str:
    """One queue row as a line: a candidate's two records, or a sighting's record and time span."""
    flags = ",".join(r["evidence"].get("flags", [])) or "-"
    fmr = f"{r['fmr']:.2g}" if r["fmr"] is not None else "-"
    if r["kind"] == "sighting":
        start, end = r["span"]
        seen = f"{start:.1f}-{end:.1f} s" if start is not None else "photo"
        what = f"{r['side']:<6} {r['record']:<20} seen {seen:<27}"
    else:
        what = f"report {r['report_id']:<20} child {r['child_id']:<20}"
    return f"#{r['id']:<5} {r['kind']:<9} {what} score {r['score']:.3f}  fmr {fmr}  {r['status']}  flags {flags}"


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
