"""``kentongan poll``: poll the fleet once (progress bar, summary table or JSON) or forever."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from collectors.base import Observation

logger = logging.getLogger(__name__)

POLL_HELP = """Poll devices over SNMP/SSH and record what they say.

[bold]Examples[/]

  kentongan poll --once                          # every device, summary table
  kentongan poll --once --device rtr-kemiren     # one device
  kentongan poll --once --json > observations.json
  kentongan poll                                 # keep polling (Ctrl-C stops)

""" + (
    "Secrets are read from the environment variables or files named by the inventory's "
    "credential profiles (for example KTG_SNMP_COMMUNITY); they are never printed.\n"
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def observation_dict(obs: Observation, *, status: str | None = None) -> dict[str, Any]:
    """An observation as plain JSON-able data (observations carry no secrets)."""
    data = _jsonable(dataclasses.asdict(obs))
    data["status"] = status
    return data  # type: ignore[no-any-return]


def _summary(observations: list[Observation], statuses: dict[str, str]) -> Table:
    table = Table(title="Poll results", show_lines=False)
    for col in ("device", "protocol", "result", "status", "time", "details"):
        table.add_column(col, no_wrap=col != "details")
    for obs in sorted(observations, key=lambda o: (o.ok, o.device_id)):
        details = obs.reason or ""
        if obs.ok:
            bits = [obs.sys_name or ""]
            if obs.kiosk is not None:
                bits.append(f"app {obs.kiosk.app_version or '?'}"
                            f" {'active' if obs.kiosk.app_active else 'inactive'}")
            if obs.interfaces:
                bits.append(f"{len(obs.interfaces)} interfaces")
            details = ", ".join(b for b in bits if b)
        table.add_row(
            obs.device_id,
            obs.protocol,
            "[green]ok[/]" if obs.ok else "[red]failed[/]",
            statuses.get(obs.device_id, "-"),
            f"{obs.duration_seconds * 1000:.0f} ms",
            details,
        )
    return table


def poll(
    once: bool = typer.Option(False, "--once", help="Poll every device once, then exit."),
    device: list[str] | None = typer.Option(
        None, "--device", "-d", help="Only this device id (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print observations as JSON."),
) -> None:
    """Poll devices over SNMP/SSH and record what they say."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from collectors.scheduler import Scheduler
    from collectors.store import StorePolicy, device_states
    from core.settings import get_settings
    from inventory.db import get_engine, session_scope
    from inventory.models import Device

    err = Console(stderr=True)
    settings = get_settings()
    engine = get_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            known = set(session.scalars(select(Device.id)))
    except (OperationalError, ProgrammingError):
        err.print("[red]error:[/] the database has no inventory tables yet. Run "
                  "[bold]kentongan db upgrade[/] and [bold]kentongan inventory import PATH[/].")
        raise typer.Exit(2) from None
    wanted = list(device) if device else None
    if wanted:
        missing = sorted(set(wanted) - known)
        if missing:
            err.print(f"[red]error:[/] not in the inventory: {', '.join(missing)} "
                      "(list devices with: kentongan inventory export --format yaml)")
            raise typer.Exit(2)
    if not known:
        err.print("[yellow]the inventory has no devices[/]: import some with "
                  "kentongan inventory import examples/banyuwangi/")
        raise typer.Exit(1)

    if not once:
        err.print(f"polling {len(wanted or known)} devices until Ctrl-C "
                  f"(interval {settings.poll_interval_seconds:g} s)")
        try:
            asyncio.run(_forever(engine, settings))
        except KeyboardInterrupt:
            err.print("stopped")
        return

    total = len(wanted) if wanted else len(known)
    scheduler = Scheduler.from_settings(engine, settings, jitter=False)
    with Progress(
        TextColumn("[bold]polling"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(),
        console=err, transient=as_json, disable=not err.is_terminal and as_json,
    ) as progress:
        task = progress.add_task("poll", total=total, last="")

        def advance(obs: Observation) -> None:
            progress.update(task, advance=1, last=obs.device_id)

        async def run() -> list[Observation]:
            try:
                return await scheduler.run_once(wanted, progress=advance)
            finally:
                for collector in scheduler.collectors.values():
                    await collector.aclose()

        observations = asyncio.run(run())

    policy = StorePolicy.from_settings(settings)
    with session_scope(engine) as session:
        statuses = {
            v.device_id: v.status
            for v in device_states(session, [o.device_id for o in observations], policy=policy)
        }
    if as_json:
        typer.echo(json.dumps(
            [observation_dict(o, status=statuses.get(o.device_id)) for o in observations],
            indent=2,
        ))
        return
    console = Console()
    console.print(_summary(observations, statuses))
    failed = sum(1 for o in observations if not o.ok)
    console.print(f"{len(observations) - failed} ok, {failed} failed "
                  f"(a device is down after {settings.down_after_failures} failed polls in a row)")


async def _forever(engine: Any, settings: Any) -> None:
    from collectors.scheduler import Scheduler

    scheduler = Scheduler.from_settings(engine, settings)
    await scheduler.start()
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await scheduler.stop()


def register(app: typer.Typer) -> None:
    """Add ``kentongan poll`` to the root app."""
    app.command("poll", help=POLL_HELP)(poll)
    app.add_typer(snmp_app, name="snmp")


SNMP_HELP = """Look at one device over SNMP: which vendor profile matched, and raw walks.

[bold]Examples[/]

  kentongan snmp profile rtr-kemiren             # matched profile and the values it read
  kentongan snmp walk olt-glagah 1.3.6.1.4.1.3902  # numeric OIDs, to write a profile

Profiles: collectors/profiles/*.yaml and $KENTONGAN_PROFILES_DIR (docs/snmp.md).
"""
snmp_app = typer.Typer(help=SNMP_HELP, no_args_is_help=True, rich_markup_mode="rich")


def _snmp_target(device: str) -> Any:
    from collectors.probe import ProbeError, build_target
    from core.settings import get_settings
    from inventory.db import get_engine, session_scope

    err = Console(stderr=True)
    try:
        with session_scope(get_engine(get_settings().database_url)) as session:
            return build_target(session, device, "snmp", timeout=3.0, retries=1)
    except ProbeError as exc:
        err.print(f"[red]error:[/] {exc} (list devices with: kentongan inventory export)")
        raise typer.Exit(2) from None


@snmp_app.command("profile")
def snmp_profile(
    device: str = typer.Argument(..., help="Inventory device id, e.g. rtr-kemiren."),
    as_json: bool = typer.Option(False, "--json", help="Print the sensors as JSON."),
) -> None:
    """Poll DEVICE once and show the profile that matched and every value it read."""
    from collectors.profiles import ProfileError, default_profiles
    from collectors.snmp import SnmpCollector

    err = Console(stderr=True)
    target = _snmp_target(device)
    try:
        profiles = default_profiles()
    except ProfileError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None

    async def run() -> Observation:
        c = SnmpCollector(max_concurrency=1, profiles=profiles)
        try:
            return await c.collect(target)
        finally:
            await c.aclose()

    obs = asyncio.run(run())
    if not obs.ok:
        err.print(f"[red]{device}: poll failed:[/] {obs.reason}")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps({"profile": obs.profile, "sys_object_id": obs.sys_object_id,
                               "sensors": _jsonable([dataclasses.asdict(s) for s in obs.sensors])},
                              indent=2))
        return
    chosen = profiles.profiles.get(obs.profile or "")
    chain = ", ".join(p.name for p in profiles.expand(chosen)) if chosen else "-"
    Console().print(f"[bold]{device}[/] sysObjectID {obs.sys_object_id or '?'}: profile "
                    f"[bold]{obs.profile or 'none'}[/] (reads {chain})")
    table = Table(title=f"{len(obs.sensors)} values")
    for col in ("kind", "sensor", "value", "state", "low", "high", "oid"):
        table.add_column(col)
    for s in obs.sensors:
        table.add_row(s.kind.value, s.name, "no signal" if s.value is None and s.state is None
                      else f"{s.value:g}" if s.value is not None else "",
                      s.state or "", "" if s.low is None else f"{s.low:g}",
                      "" if s.high is None else f"{s.high:g}", s.oid)
    Console().print(table)
    if "profile_error" in obs.extra:
        err.print(f"[yellow]incomplete:[/] {obs.extra['profile_error']}")


@snmp_app.command("walk")
def snmp_walk(
    device: str = typer.Argument(..., help="Inventory device id."),
    oid: str = typer.Argument("1.3.6.1.2.1.1", help="Numeric OID of the subtree."),
) -> None:
    """Walk OID on DEVICE (numeric output, one `OID = value` a line)."""
    from collectors.base import CollectorError
    from collectors.snmp import SnmpCollector

    target = _snmp_target(device)

    async def run() -> list[Any]:
        c = SnmpCollector(max_concurrency=1)
        try:
            return await c.walk(target, oid.lstrip("."))
        finally:
            await c.aclose()

    try:
        rows = asyncio.run(run())
    except (CollectorError, TimeoutError) as exc:
        Console(stderr=True).print(f"[red]error:[/] walk of {oid} on {device}: {exc}")
        raise typer.Exit(1) from None
    from collectors import ber

    for o, _, v in rows:
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else (
            ".".join(map(str, v)) if isinstance(v, tuple) else v)
        typer.echo(f"{ber.oid_text(o)} = {text}")
