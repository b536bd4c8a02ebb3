"""Commands of the api package: ``kentongan token …`` and ``kentongan readiness``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from core.settings import get_settings
from core.timeutil import format_wib

console = Console()
err = Console(stderr=True)
token_app = typer.Typer(help="API tokens (stored hashed; shown once at creation).",
                        no_args_is_help=True)


def _engine() -> Engine:
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


def readiness(
    district: str | None = typer.Option(None, "--district", help="Kecamatan code, e.g. 35.10.15"),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    verdict: str | None = typer.Option(None, help="Only qualified | not_qualified | unknown"),
) -> None:
    """Village readiness: verdict, since when, and what blocks each village.

    Example:  kentongan readiness --district 35.10.15 --format csv > glagah.csv
    """
    import json

    from api.readiness.board import compute_board
    from api.readiness.policy import PolicyError, load_policy
    from api.routes.readiness import filter_villages, readiness_csv, village_detail
    from inventory.db import session_scope

    if fmt not in ("table", "json", "csv"):
        err.print(f"[red]error:[/] --format must be table, json or csv, not {fmt!r}")
        raise typer.Exit(2)
    settings = get_settings()
    try:
        policy = load_policy(settings.policy_path)
    except PolicyError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    with session_scope(_engine()) as session:
        board = compute_board(session, policy, prometheus_url=settings.prometheus_url)
    if district and district not in board.by_district:
        err.print(f"[red]error:[/] no kecamatan with code {district!r}")
        raise typer.Exit(1)
    rows = filter_villages(board, district=district, verdict=verdict)
    if fmt == "csv":
        typer.echo(readiness_csv(board, rows), nl=False)
        return
    if fmt == "json":
        typer.echo(json.dumps([village_detail(board, r).model_dump(mode="json") for r in rows],
                              ensure_ascii=False, indent=1))
        return
    colour = {"qualified": "green", "not_qualified": "red", "unknown": "grey50"}
    table = Table(title=f"Readiness ({len(rows)} villages; policy {policy.version})")
    for name in ("code", "village", "kecamatan", "verdict", "since"):
        table.add_column(name, no_wrap=True)
    table.add_column("what blocks it (first)")
    for row in rows:
        v = row.verdict
        reasons = v.blocking_reasons[0].en if v.blocking_reasons else ""
        if len(v.blocking_reasons) > 1:
            reasons += f" (+{len(v.blocking_reasons) - 1})"
        table.add_row(row.code, row.inputs.village_name, row.inputs.district_name,
                      f"[{colour[v.status.value]}]{v.status.value}[/]", format_wib(row.since),
                      reasons)
    console.print(table)
    counts = board.district_counts.get(district) if district else board.counts
    if counts is not None:
        console.print(f"qualified {counts.qualified} · not qualified {counts.not_qualified} · "
                      f"unknown {counts.unknown} · total {counts.total}")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(token_app, name="token")
    app.command("readiness")(readiness)
