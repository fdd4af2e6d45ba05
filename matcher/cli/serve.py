"""``matcher serve``: the HTTP service and the pages."""

from __future__ import annotations

from typing import Annotated

import typer

from matcher.cli.common import get_services


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default MATCHER_HOST (127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="default MATCHER_PORT (8000)")] = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn  # heavy: the web stack is loaded only to serve

    from matcher.api.app import create_app

    services = get_services(ctx)
    settings = services.settings
    api = create_app(settings, services=services)
    h, p = host or settings.host, port or settings.port
    typer.echo(f"matcher on http://{h}:{p}  sign in: http://{h}:{p}/signin  API docs: http://{h}:{p}/docs  data: {settings.data_dir.resolve()}")
    if not services.accounts.list_users():
        typer.echo("No accounts yet. Make one and a token to sign in with (in another terminal):\n  .venv/bin/matcher users add admin --role admin && .venv/bin/matcher tokens create admin")
    uvicorn.run(api, host=h, port=p, log_level="info", server_header=False)
