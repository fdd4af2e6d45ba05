"""``matcher worker``: run background jobs (videos, archive imports) in their own process,
on this machine or any other that reaches the same database and blob folder."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from matcher.cli.common import get_services


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="run the jobs queued now, then exit")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="jobs run at the same time (threads)")] = 1,
) -> None:
    """Run queued background jobs until stopped (Ctrl-C or SIGTERM: running jobs finish first).

    The API queues the work; `matcher serve` also runs it unless MATCHER_INPROCESS_WORKER=false.
    """
    from matcher.jobs.worker import Worker  # heavy: the services and their models

    services = get_services(ctx)
    run = Worker(services, concurrency=concurrency, on_end=lambda job, state: typer.echo(f"job {job.id} {job.kind} {state}"))

    def stop(signum, _frame) -> None:
        if run.stopping:  # asked twice: leave now; the running jobs are queued again later
            raise SystemExit(128 + signum)
        typer.echo("stopping after the running jobs (again to leave at once)", err=True)
        run.stop(wait=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    typer.echo(f"worker {run.name} ready (concurrency {concurrency}{', once' if once else ''})", err=True)
    ended = run.run(once=once)
    done = sum(1 for _, state in ended if state == "done")
    typer.echo(f"{len(ended)} job(s) ended: {done} done, {len(ended) - done} failed", err=True)
