"""Root commands: ``db upgrade``, ``serve`` and ``demo``."""

from __future__ import annotations

import typer
from rich.console import Console

from core.settings import get_settings

console = Console(stderr=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version.

    Example:  KENTONGAN_DATABASE_URL=sqlite:///kentongan.db kentongan db upgrade
    """
    from inventory.db import get_engine
    from kentongan.app import current_heads, upgrade

    settings = get_settings()
    engine = get_engine(settings.database_url)
    upgrade(engine)
    console.print(
        f"[green]schema up to date[/] ({engine.url.render_as_string(hide_password=True)}: "
        f"{', '.join(sorted(current_heads(engine)))})"
    )


def serve(
    host: str | None = typer.Option(None, help="Address to listen on (default from settings)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
    poll: bool = typer.Option(True, "--poll/--no-poll", help="Run the poller beside the API."),
) -> None:
    """Serve the API, /metrics and the dashboard (and run the poller).

    Example:  kentongan serve --port 8000
    """
    import uvicorn

    from kentongan.app import create_app

    settings = get_settings().model_copy(update={"run_poller": poll})
    application = create_app(settings)
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def demo(
    port: int = typer.Option(8000, help="Port of the API and dashboard."),
    devices: int | None = typer.Option(
        None, help="Limit the simulated fleet to this many devices (default: all)."
    ),
    poll_interval: float = typer.Option(60.0, help="Seconds between two polls of a device."),
    fibre_cuts: float = typer.Option(
        300.0, help="Seconds between two simulated fibre cuts (0: none)."
    ),
) -> None:
    """Run the embedded default: SQLite, the Banyuwangi sample, a simulated fleet, the
    poller, the API and the dashboard on http://127.0.0.1:8000.
    """
    from kentongan.demo import run_demo

    run_demo(port=port, device_limit=devices, poll_interval=poll_interval, cut_every=fibre_cuts)


def register(app: typer.Typer) -> None:
    """Add ``db``, ``serve`` and ``demo`` to ``app``."""
    app.add_typer(db_app, name="db")
    app.command("serve")(serve)
    app.command("demo")(demo)
