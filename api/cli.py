"""Commands of the api package: ``kentongan token …`` and ``kentongan readiness``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kentongan.settings import get_settings
from kentongan.timeutil import format_wib

console = Console()
err = Console(stderr=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once at creation).",
                        no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from inventory.db import get_engine

    return get_engine(get_settings().database_url)


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="viewer | technician | engineer | admin"),
    name: str = typer.Option(..., "--name", help="Who or what uses the token."),
) -> None:
    """Create an API token and print it once (store it now: it cannot be shown again).

    Example:  kentongan token create --role viewer --name "Tim Smart Kampung"
    """
    from api.auth import AuthError, create_token
    from inventory.db import session_scope

    try:
        with session_scope(_engine()) as session:
            row, token = create_token(session, name, role, created_by="cli")
            token_id = row.id
    except AuthError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    err.print(f"created token id={token_id} name={name!r} role={role}; "
              "it is shown once, store it now:")
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List API tokens (never the tokens themselves)."""
    from api.auth import list_tokens
    from inventory.db import session_scope

    table = Table("id", "name", "role", "created", "last used", "revoked")
    with session_scope(_engine()) as session:
        for row in list_tokens(session):
            table.add_row(str(row.id), row.name, row.role, format_wib(row.created_at),
                          format_wib(row.last_used_at), format_wib(row.revoked_at))
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="Token id (see `token list`).")) -> None:
    """Revoke an API token by id."""
    from api.auth import AuthError, revoke_token
    from inventory.db import session_scope

    try:
        with session_scope(_engine()) as session:
            row = revoke_token(session, token_id)
            name = row.name
    except AuthError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    err.print(f"revoked token id={token_id} ({name})")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(token_app, name="token")
