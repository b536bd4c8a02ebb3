"""``kentongan inventory …`` commands."""

from __future__ import annotations

import typer

inventory_app = typer.Typer(help="Import, export and list the inventory.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(inventory_app, name="inventory")
