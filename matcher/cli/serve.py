"""``matcher serve``: the HTTP service and the pages."""

from __future__ import annotations

from typing import Annotated

import typer

from matcher.cli.common import get_services
from matcher.logs import configure_logging
from matcher.settings import Settings, apply_privacy_env

# uvicorn leaves logging to matcher.logs (one format, request ids) and prints no access log of
# its own: it would print full URLs with their query strings (api.middleware logs route templates)
UVICORN_LOGS = {"log_config": None, "access_log": False}


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default MATCHER_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default MATCHER_PORT (8000)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API worker processes (uvicorn); each keeps its own index, fresh from the database")] = 1,
) -> None:
    """Start the HTTP service."""
    import uvicorn  # heavy: the web stack is loaded only to serve

    from matcher.api.app import create_app

    services = get_services(ctx)
    settings = services.settings
    configure_logging(settings.log_format, settings.log_level)  # MATCHER_LOG_FORMAT=json: JSON lines
    h, p = host or settings.host, port or settings.port
    typer.echo(f"matcher on http://{h}:{p}  sign in: http://{h}:{p}/signin  API docs: http://{h}:{p}/docs  data: {settings.data_dir.resolve()}")
    # this also brings the schema up to date, once, before any worker starts
    if not services.accounts.list_users():
        typer.echo(
            "No accounts yet. Make one and a token to sign in with (in another terminal):\n  .venv/bin/matcher users add admin --role admin && .venv/bin/matcher tokens create admin"
        )
    # blobs sealed, unfinished erasures finished now, then retention daily (one thread, in this process only)
    services.protection.start_timer()
    if settings.inprocess_worker:  # background jobs (also those a stopped run left queued) run here too
        services.jobs.start_inprocess()
    if workers > 1:
        # each worker process builds its own Services from the same MATCHER_* environment
        try:
            uvicorn.run("matcher.cli.serve:worker_app", factory=True, workers=workers, host=h, port=p, server_header=False, **UVICORN_LOGS)
        finally:
            services.jobs.shutdown()
        return
    uvicorn.run(create_app(settings, services=services), host=h, port=p, server_header=False, **UVICORN_LOGS)


def worker_app():
    """The app of one ``--workers`` process (uvicorn imports it by name in a fresh process)."""
    from matcher.api.app import create_app  # in the worker process, which serves

    apply_privacy_env()
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
