"""Commands of the collectors package (registered on the root `kentongan` app)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
