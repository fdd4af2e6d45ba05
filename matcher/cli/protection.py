"""Data protection commands: ``keys``, ``fsck``, ``backup``, ``restore``, ``retention`` and
``audit verify`` (``audit`` alone still lists events: the group's callback is the old command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from matcher.cli import candidates
from matcher.cli.common import actor, get_services

keys_app = typer.Typer(help="The data key that seals blobs at rest.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: `matcher audit [--since ...]` lists events, `matcher audit verify` checks the hash chain.", invoke_without_command=True
)


def _emit(body: dict, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(body, default=str) if as_json else text)


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    keep_old: Annotated[bool, typer.Option("--keep-old", help="keep the old key in the key file (needed to read backups made before)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-seal every blob under a new data key (resumable: run it again after an interruption)."""
    out = get_services(ctx).protection.rotate_keys(keep_old=keep_old)
    text = f"active key {out['active']}: {out['resealed']} of {out['blobs']} blob(s) re-sealed"
    if out["retired"]:
        text += f"; retired key(s) {', '.join(out['retired'])} — backups made before now need the old key file"
    _emit(out, as_json, text)


@keys_app.command("status")
def keys_status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where the key file is, which key is active, and how many blobs each key seals."""
    out = get_services(ctx).protection.key_status()
    _emit(out, as_json, "\n".join(f"{k}: {v}" for k, v in out.items()))


def fsck(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report only; change nothing")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="also decrypt and check every blob (reads all of them)")] = False,
    grace_hours: Annotated[float, typer.Option(min=0, help="unreferenced blobs younger than this may belong to an upload in flight")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check the data folder against the database and repair what can be repaired;
    exit status 1 when it finds something that cannot be repaired."""
    report = get_services(ctx).protection.fsck(dry_run=dry_run, deep=deep, grace_s=grace_hours * 3600)
    lines = [
        f"{'repaired' if p['repaired'] else 'found   ' if p['repairable'] else 'PROBLEM '} {p['kind']} ×{p['count']}: {p['detail']}" for p in report.problems
    ]
    lines.append(("ok" if not report.unrepaired else f"{len(report.unrepaired)} problem(s) not repaired") + f"  {json.dumps(report.counts)}")
    _emit(report.as_dict(), as_json, "\n".join(lines))
    if report.unrepaired:
        raise typer.Exit(1)


def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="a new (or empty) folder for the backup")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A consistent snapshot (database + sealed blobs + manifest of sha256s) while the service runs."""
    result = get_services(ctx).protection.backup(out, actor())
    _emit(result, as_json, f"backup in {out}: {result['blobs']} blob(s), database {result['database']['kind']}, audit head {result['audit']['head'][:16]}…")


def restore(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="a folder written by `matcher backup`")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Restore a backup into an empty DATA_DIR (and database), then re-apply later erasures."""
    result = get_services(ctx).protection.restore(source, actor())
    text = f"restored {result['blobs']} blob(s); erasures re-applied: {result['erasures_reapplied']}; audit {result['audit']}"
    if result["missing_blobs"]:
        text += (
            f"\nWARNING: {result['missing_blobs']} blob(s) were erased while the backup ran and the erasure log does not say which record: run `matcher fsck`"
        )
    _emit(result, as_json, text)


def retention(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go; change nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Apply MATCHER_RETENTION_* now (the service does it daily); every purge is audited."""
    result = get_services(ctx).protection.retention(dry_run=dry_run)
    _emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))


@audit_app.callback()
def audit(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="ISO date or datetime (UTC)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
) -> None:
    """Audit events as JSON lines (who, role, action, object, time); `verify` checks the chain."""
    if ctx.invoked_subcommand is None:
        candidates.audit(ctx, since, limit)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit log's hash chain; exit status 1 at the first broken link."""
    report = get_services(ctx).protection.verify_audit()
    _emit(report.as_dict(), as_json, report.line())
    if not report.ok:
        raise typer.Exit(1)
