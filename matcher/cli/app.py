"""Command line for staff: thin, parses arguments, calls Services, shapes output.

This module is the typer app: the callback, the entry point and the registration of the
commands, which live one module per group (``faces``, ``archive``, ``accounts``, ``serve``,
``review``, ``evaluate``). Registration order is the order ``matcher --help`` lists them.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from matcher.cli import accounts, archive, candidates, evaluate, faces, jobs, protection, serve
from matcher.cli import sweep as sweeping  # sweep, sightings, sighting, decide-sighting
from matcher.errors import MatcherError
from matcher.settings import apply_privacy_env

app = typer.Typer(help="matcher: face matching for family reunification (ranked leads for human review).", no_args_is_help=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress to stderr")] = False) -> None:
    apply_privacy_env()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


app.command()(faces.faces)
app.command()(faces.compare)
app.command()(faces.models)
app.command("index")(archive.index_archive)
app.command()(archive.search)
app.command()(archive.reindex)
app.command()(archive.stats)
app.command()(faces.video)
app.command()(sweeping.sweep)
app.add_typer(accounts.users_app, name="users")
app.add_typer(accounts.tokens_app, name="tokens")
app.command()(serve.serve)
app.command()(jobs.worker)
app.command()(candidates.queue)
app.command()(candidates.candidate)
app.command()(candidates.decide)
app.command()(sweeping.sightings)
app.command()(sweeping.sighting)
app.command("decide-sighting")(sweeping.decide_sighting)
app.add_typer(protection.audit_app, name="audit")  # `audit [--since]` lists, `audit verify` checks the chain
app.command("eval")(evaluate.eval_command)
app.add_typer(protection.keys_app, name="keys")
app.command()(protection.fsck)
app.command()(protection.backup)
app.command()(protection.restore)
app.command()(protection.retention)


def run() -> None:  # pragma: no cover - console entry for python -m
    try:
        app()
    except MatcherError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
