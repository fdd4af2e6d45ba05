"""Sightings at the command line: ``sweep`` (footage or field photos against the open
records), ``sightings`` (the list), ``sighting`` (one, audited), ``decide-sighting``."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli.common import actor, get_services, per_file
from matcher.errors import FileTooLargeError, InputError
from matcher.settings import Settings
from matcher.types import Role


class SweepSide(StrEnum):
    reports = "reports"
    children = "children"
    both = "both"


def _progress_bar():
    """A transient rich bar over one file's frames, and the ``tick(done, total)`` that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"), TimeElapsedColumn(), transient=True)
    task = bar.add_task("sweeping", total=None)

    def start(name: str) -> None:
        bar.update(task, description=f"sweeping {name}", completed=0, total=None)

    def tick(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, start, tick


def _read(settings: Settings, path: Path) -> bytes:
    size = path.stat().st_size
    limit = max(settings.max_upload_bytes, settings.video_max_bytes)
    if size > limit:
        raise FileTooLargeError(f"{path.name} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
    return path.read_bytes()


def sweep(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="videos (MP4, MOV, WebM, AVI, 3GP) or field photos")],
    side: Annotated[SweepSide, typer.Option(help="search the open reports, the registered children, or both")] = SweepSide.both,
    top: Annotated[int, typer.Option(min=1, max=100, help="candidates printed per track or face")] = 5,
    taken: Annotated[str | None, typer.Option(help="date the footage was shot (YYYY-MM-DD): records it predates rank last")] = None,
    place: Annotated[str | None, typer.Option(help="where it was shot, kept with a sighting for reviewers")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per track or face, then one per file")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    reviewer: Annotated[str | None, typer.Option("--as", help="who sweeps, for the audit log (default: your login)")] = None,
) -> None:
    """Search every face in footage or field photos against the open records. Tracks whose best
    match passes the queue rule become sightings for reviewers; every other face is discarded
    (bystanders are never stored). Audited as a search."""
    services = get_services(ctx)
    from matcher.sightings.service import sides_of  # heavy: models, FAISS

    try:
        taken_on = dt.date.fromisoformat(taken) if taken else None
    except ValueError:
        raise InputError("--taken must be a date, YYYY-MM-DD") from None
    sides = sides_of(side.value)
    who = reviewer or actor()
    bar, start, tick = _progress_bar() if progress and not as_json else (nullcontext(), None, None)
    failed = 0
    with bar:
        for path in files:
            out: dict = {"file": str(path)}
            if start:
                start(path.name)

            def work(out=out, path=path) -> None:
                outcome = services.sightings.sweep(_read(services.settings, path), path.name, sides, who, Role.STAFF, top, taken_on, place, progress=tick)
                out.update(outcome.as_dict())
                out["probes"] = outcome.probes

            failed += per_file(path, out, work)
            _print(out, as_json)
    raise typer.Exit(1 if failed else 0)


def _print(out: dict, as_json: bool) -> None:
    path = out["file"]
    if as_json:
        for probe in out.pop("probes", []):
            typer.echo(json.dumps({"file": path, **probe}))
        typer.echo(json.dumps(out))
        return
    if "error" in out:
        typer.echo(f"{path}: error: {out['error']['message']}")
        return
    t = out["tracks"]
    length = f"{out['duration']:.1f} s video" if out["duration"] is not None else "photo"
    typer.echo(f"{path}: {length}, {t['seen']} track(s) or face(s) seen, {t['searched']} searched, {t['kept']} kept ({out['seconds']:.1f} s)")
    for p in out["probes"]:
        when = f"{p['start']:.1f}-{p['end']:.1f} s" if "start" in p else "face"
        best = [c for hits in p["candidates"].values() for c in hits[:1]]
        lead = ", ".join(f"{c['side']} {c['record']} {c['score']:.2f} (open-set rate {c['fpir']:.2g})" for c in best) or (
            "not searched: face too small or blurred" if not p["searched"] else "no candidate"
        )
        typer.echo(f"  #{p['track']:<3} {when:<14} {'SIGHTING ' if p['sighting'] else ''}{lead}")
    for s in out["sightings"]:
        span = f"{s['span'][0]:.1f}-{s['span'][1]:.1f} s" if s["span"][0] is not None else "photo"
        typer.echo(f"  sighting #{s['id']} of {s['side']} {s['record']} ({span}) {'new' if s['new'] else 'already known: ' + s['status']}")
    for w in out.get("warnings", []):
        typer.echo(f"  warning: {w}")


def sightings(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open | unsure | awaiting_second | confirmed | rejected | all")] = "open",
    record: Annotated[str | None, typer.Option(help="only this record's number")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sightings to review, strongest first."""
    rows = get_services(ctx).sightings.list(None if status == "all" else status, limit, record)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        span = f"{r['span'][0]:.1f}-{r['span'][1]:.1f} s" if r["span"][0] is not None else "photo"
        typer.echo(f"#{r['id']:<5} {r['side']:<6} {r['record']:<20} {span:<14} score {r['score']:.3f}  fmr {r['fmr']:.2g}  {r['status']}")


def sighting(
    ctx: typer.Context,
    sighting_id: int,
    reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One sighting with its record, source, frames and decisions (the view is audited)."""
    row = get_services(ctx).sightings.get(sighting_id, reviewer or actor(), Role.REVIEWER)
    typer.echo(json.dumps(row, indent=None if as_json else 2, default=str))


def decide_sighting(
    ctx: typer.Context,
    sighting_id: int,
    verdict: Annotated[str, typer.Argument(help="confirmed | rejected | unsure")],
    note: Annotated[str | None, typer.Option(help="why; for a confirmation, what was seen")] = None,
    reviewer: Annotated[str | None, typer.Option("--as", help="reviewer name (default: your login)")] = None,
) -> None:
    """Decide on a sighting. Confirming records where and when the child was seen (the record
    stays open); rejecting erases its frames, and the source once no sighting needs it."""
    row = get_services(ctx).sightings.decide(sighting_id, verdict, reviewer or actor(), note)
    erased = f"; {row['erased_blobs']} stored file(s) erased" if row["erased_blobs"] else ""
    typer.echo(f"sighting {row['id']} is now {row['status']}{erased}")
