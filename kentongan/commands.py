"""Root commands: ``db upgrade``, ``serve``, ``demo`` and ``demo fault …``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from core.settings import get_settings

console = Console(stderr=True)
out = Console()
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


demo_app = typer.Typer(
    help=(
        "Run the embedded demo, or make faults in a running one.\n\n"
        "Example:  kentongan demo --port 8000   (then, in another shell:  "
        "kentongan demo fault cut fo-noc-glagah --for 10m)"
    ),
)
fault_app = typer.Typer(
    help=(
        "Faults on demand in a running `kentongan demo` (admin-only demo API; the token is "
        "read from .kentongan-demo/admin_token).\n\n"
        "Example:  kentongan demo fault cut fo-noc-glagah --for 10m"
    ),
    no_args_is_help=True,
)
demo_app.add_typer(fault_app, name="fault")


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    port: int = typer.Option(8000, help="Port of the API and dashboard."),
    devices: int | None = typer.Option(
        None, help="Limit the simulated fleet to this many devices (default: all)."
    ),
    poll_interval: float = typer.Option(60.0, help="Seconds between two polls of a device."),
    fibre_cuts: float = typer.Option(
        300.0, help="Seconds between two simulated fibre cuts (0: none)."
    ),
    peers: bool = typer.Option(
        True, "--peers/--no-peers", help="Also run Prometheus and Alertmanager (if installed)."
    ),
    kiosks: bool = typer.Option(
        True, "--kiosks/--no-kiosks", help="Run the Glagah kiosks as sshd stand-ins."
    ),
) -> None:
    """Run the embedded default: SQLite, the Banyuwangi sample, a simulated fleet, the
    poller, the API and the dashboard on http://127.0.0.1:8000, with Prometheus,
    Alertmanager and sshd kiosk stand-ins.

    Example:  kentongan demo --port 8000 --fibre-cuts 0
    """
    if ctx.invoked_subcommand is not None:
        return
    from kentongan.demo import run_demo

    run_demo(port=port, device_limit=devices, poll_interval=poll_interval, cut_every=fibre_cuts,
             peers=peers, kiosks=kiosks)


WORKDIR_OPTION = typer.Option(
    Path(".kentongan-demo"), "--workdir", help="The running demo's directory (demo.json)."
)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | None) -> float | None:
    """``90``, ``90s``, ``10m``, ``2h`` or ``1d`` as seconds; None stays None."""
    if text is None:
        return None
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:])
    number = raw[:-1] if unit is not None else raw
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a duration; write e.g. 90s, 10m or 2h", param_hint="--for"
        ) from None
    if value <= 0:
        raise typer.BadParameter(f"{text!r} must be longer than zero", param_hint="--for")
    return value


def _demo_call(workdir: Path, method: str, path: str,
               body: dict[str, object] | None = None) -> Any:
    import httpx

    info_file = workdir / "demo.json"
    try:
        info = json.loads(info_file.read_text())
        token = Path(info["admin_token_file"]).read_text().strip()
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/] no running demo found in {workdir} ({exc}); start one "
                      "with `make demo` (or pass --workdir DIR of the running demo)")
        raise typer.Exit(2) from None
    try:
        response = httpx.request(method, f"{info['url']}/api/v1/demo{path}", json=body,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as exc:
        console.print(f"[red]error:[/] the demo at {info['url']} does not answer ({exc}); "
                      "is `make demo` still running?")
        raise typer.Exit(2) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        console.print(f"[red]error:[/] {detail}")
        raise typer.Exit(2)
    return response.json()


def _show(fault: dict[str, Any]) -> None:
    from datetime import datetime

    from core.timeutil import format_wib

    until = (f", until {format_wib(datetime.fromisoformat(fault['ends_by']))}"
             if fault.get("ends_by") else "")
    state = "cleared" if fault.get("ended_at") else "active"
    out.print(f"fault {fault['id']}: {fault['kind']} {fault['subject']} — {state}"
              f" (by {fault['by']}, {len(fault['devices'])} devices{until})")


@fault_app.command("cut")
def fault_cut(
    link: str = typer.Argument(..., help="Link id, e.g. fo-noc-glagah."),
    duration: str | None = typer.Option(None, "--for", help="Repair after e.g. 10m."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """Cut a fibre link: its A-end port goes down and everything behind it goes silent.

    Example:  kentongan demo fault cut fo-noc-glagah --for 10m
    """
    _show(_demo_call(workdir, "POST", "/faults/cut",
                     {"link": link, "for_seconds": parse_duration(duration)}))


@fault_app.command("repair")
def fault_repair(
    link: str = typer.Argument(..., help="A cut link's id."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """Repair a cut link.

    Example:  kentongan demo fault repair fo-noc-glagah
    """
    _show(_demo_call(workdir, "POST", "/faults/repair", {"link": link}))


@fault_app.command("power")
def fault_power(
    site: str = typer.Argument(..., help="Site id, e.g. kantor-desa-kemiren."),
    state: str = typer.Argument(..., help="off (mains lost: UPS on battery) or on."),
    duration: str | None = typer.Option(None, "--for", help="Restore after e.g. 5m."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """Cut or restore a site's mains power.

    Example:  kentongan demo fault power kantor-desa-kemiren off --for 5m
    """
    if state not in ("off", "on"):
        raise typer.BadParameter(f"{state!r}: write off or on", param_hint="STATE")
    _show(_demo_call(workdir, "POST", "/faults/power",
                     {"site": site, "state": state, "for_seconds": parse_duration(duration)}))


@fault_app.command("kiosk")
def fault_kiosk(
    kiosk: str = typer.Argument(..., help="Kiosk device id, e.g. kiosk-kemiren-1."),
    state: str = typer.Argument(..., help="stop or start."),
    duration: str | None = typer.Option(None, "--for", help="Start again after e.g. 5m."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """Switch a kiosk off or on (a Glagah kiosk's sshd and app stop).

    Example:  kentongan demo fault kiosk kiosk-kemiren-1 stop
    """
    if state not in ("stop", "start"):
        raise typer.BadParameter(f"{state!r}: write stop or start", param_hint="STATE")
    _show(_demo_call(workdir, "POST", "/faults/kiosk",
                     {"kiosk": kiosk, "state": state, "for_seconds": parse_duration(duration)}))


@fault_app.command("silence")
def fault_silence(
    device: str = typer.Argument(..., help="Device id, e.g. ups-kemiren."),
    undo: bool = typer.Option(False, "--undo", help="Let it answer again."),
    duration: str | None = typer.Option(None, "--for", help="Answer again after e.g. 5m."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """Make a device's SNMP agent stop answering (or, with --undo, answer again).

    Example:  kentongan demo fault silence ups-kemiren --for 5m
    """
    _show(_demo_call(workdir, "POST", "/faults/silence",
                     {"device": device, "silent": not undo,
                      "for_seconds": parse_duration(duration)}))


@fault_app.command("list")
def fault_list(
    active: bool = typer.Option(False, "--active", help="Only faults that still hold."),
    workdir: Path = WORKDIR_OPTION,
) -> None:
    """List the faults made in the running demo.

    Example:  kentongan demo fault list --active
    """
    faults = _demo_call(workdir, "GET", f"/faults?active={'true' if active else 'false'}")
    for fault in faults:
        _show(fault)
    if not faults:
        out.print("no faults")


def register(app: typer.Typer) -> None:
    """Add ``db``, ``serve`` and ``demo`` to ``app``."""
    app.add_typer(db_app, name="db")
    app.command("serve")(serve)
    app.add_typer(demo_app, name="demo")
