"""The ``kentongan`` command: one Typer app composed of each package's commands.

Each package's ``cli.py`` exposes ``register(app)``, which adds its commands or groups.
"""

from __future__ import annotations

import logging
import sys

import typer

from kentongan import registry

app = typer.Typer(
    name="kentongan",
    help=(
        "Kentongan: inventory, polling, alerts, rollouts and readiness for Smart Kampung.\n\n"
        "Start here:  kentongan db upgrade && kentongan inventory import examples/banyuwangi/"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _register_all() -> None:
    for register in registry.cli_registrars():
        register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
