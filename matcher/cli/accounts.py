"""Account commands: ``users add|list`` and ``tokens create|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer

from matcher.cli.common import actor, get_services

users_app = typer.Typer(help="Accounts: family, shelter, reviewer, admin.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens (shown once; only their hash is stored).", no_args_is_help=True)


@users_app.command("add")
def users_add(ctx: typer.Context, name: str, role: Annotated[str, typer.Option(help="family | shelter | reviewer | admin")]) -> None:
    """Create an account."""
    user = get_services(ctx).accounts.add_user(name, role, actor())
    typer.echo(f"user {user['name']} ({user['role']}) created; give them a token with: matcher tokens create {user['name']}")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    for u in get_services(ctx).accounts.list_users():
        typer.echo(f"{u['id']:>4}  {u['name']:<24} {u['role']:<9} {'disabled' if u['disabled'] else ''}")


@tokens_app.command("create")
def tokens_create(ctx: typer.Context, user: str, days: Annotated[float | None, typer.Option(help="lifetime (default MATCHER_TOKEN_DAYS)")] = None) -> None:
    """Create a token for USER and print it once."""
    row = get_services(ctx).accounts.create_token(user, days, actor())
    typer.echo(f"token for {row['user']} ({row['role']}), expires {row['expires_at']}, id {row['id']}:")
    typer.echo(row["token"])


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: int) -> None:
    get_services(ctx).accounts.revoke_token(token_id, actor())
    typer.echo(f"token {token_id} revoked")
