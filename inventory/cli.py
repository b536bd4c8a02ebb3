"""``kentongan inventory …``: import, export and list the inventory."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine, func, select

from core.settings import get_settings
from inventory.db import get_engine, session_scope
from inventory.errors import ImportRejected

console = Console()
err = Console(stderr=True)

inventory_app = typer.Typer(
    help="Import, export and list the inventory (the source of truth).",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    ANSIBLE = "ansible"
    PROMETHEUS_SD = "prometheus-sd"
    YAML = "yaml"


class ListKind(StrEnum):
    DEVICES = "devices"
    SITES = "sites"
    LINKS = "links"
    VILLAGES = "villages"
    DISTRICTS = "districts"


def _engine() -> Engine:
    return get_engine(get_settings().database_url)


@inventory_app.command("import")
def import_command(
    paths: list[Path] = typer.Argument(..., help="YAML/CSV files or directories of them."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; change nothing."),
    prune: bool = typer.Option(
        False, "--prune", help="Delete items of the imported kinds that the files no longer list."
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        help="With --prune: confirm deleting every item of a kind, or more than 10 % of one.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Import inventory files: all of it lands, or nothing changes.

    Example:  kentongan inventory import examples/banyuwangi/regions.csv
    examples/banyuwangi/inventory.yaml

    Example:  kentongan inventory import fleet/ --prune --dry-run   (lists what would go)
    """
    from inventory.importer import import_paths

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def hook(kind: str, n: int) -> None:
        if kind not in tasks:
            tasks[kind] = progress.add_task(f"importing {kind}", total=None)
        progress.advance(tasks[kind], n)

    engine = _engine()
    try:
        with progress, session_scope(engine) as session:
            report = import_paths(
                session,
                paths,
                dry_run=dry_run,
                prune=prune,
                confirm_prune=yes,
                progress=hook,
            )
    except ImportRejected as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{problem}\n")
        if exc.total > len(exc.problems):
            sys.stderr.write(f"… and {exc.total - len(exc.problems)} more\n")
        sys.stderr.write(
            f"import refused: {exc.total} problem(s); nothing was changed. "
            "Fix the lines above and run the same command again.\n"
        )
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
        return
    table = Table(title="dry run: nothing written" if dry_run else "inventory import")
    for col in ("kind", "created", "updated", "unchanged", "deleted"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, c in report.counts.items():
        table.add_row(
            kind, f"{c.created:,}", f"{c.updated:,}", f"{c.unchanged:,}", f"{c.deleted:,}"
        )
    console.print(table)
    for kind, ids in report.pruned.items():
        verb = "would delete" if dry_run else "deleted"
        console.print(
            f"{kind}: {verb} {len(ids):,}: {', '.join(ids)}", highlight=False, soft_wrap=True
        )
    for warning in report.prune_warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if not report.changed:
        console.print("nothing changed: the inventory already matches these files")


@inventory_app.command("export")
def export_command(
    fmt: ExportFormat = typer.Option(ExportFormat.YAML, "--format", "-f", help="Output format."),
    district: str | None = typer.Option(None, help="Only this kecamatan code (e.g. 35.10.15)."),
    village: str | None = typer.Option(None, help="Only this desa/kelurahan code."),
    role: str | None = typer.Option(None, help="Only devices of this role (e.g. kiosk)."),
    tag: list[str] = typer.Option([], "--tag", help="Only devices with this tag (repeatable)."),
    ansible_list: bool = typer.Option(False, "--list", help="Ansible dynamic inventory: --list."),
    ansible_host: str | None = typer.Option(
        None, "--host", help="Ansible dynamic inventory: variables of one host."
    ),
) -> None:
    """Export the inventory as Ansible JSON inventory, Prometheus http_sd or YAML.

    Example:  kentongan inventory export --format ansible --role kiosk > hosts.json
    """
    from inventory.export import ansible_inventory, inventory_document, prometheus_sd

    with session_scope(_engine()) as session:
        if ansible_list or ansible_host or fmt == ExportFormat.ANSIBLE:
            inv = ansible_inventory(
                session, district=district, village=village, role=role, tags=tag or None
            )
            data = inv["_meta"]["hostvars"].get(ansible_host, {}) if ansible_host else inv
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        elif fmt == ExportFormat.PROMETHEUS_SD:
            sys.stdout.write(
                json.dumps(prometheus_sd(session, district=district, role=role), indent=2) + "\n"
            )
        else:
            sys.stdout.write(
                yaml.safe_dump(
                    inventory_document(session), sort_keys=False, allow_unicode=True, width=100
                )
            )


@inventory_app.command("list")
def list_command(
    kind: ListKind = typer.Argument(..., help="devices, sites, links, villages or districts"),
    district: str | None = typer.Option(None, help="Only this kecamatan code (e.g. 35.10.15)."),
    limit: int = typer.Option(50, help="At most this many rows (0 = all)."),
) -> None:
    """Print a table of the inventory.

    Example:  kentongan inventory list sites --district 35.10.15
    """
    from inventory.models import Device, Link, Region, Site
    from inventory.query import DeviceFilter, SiteFilter

    table = Table()
    q: Any
    cols: tuple[str, ...]
    with session_scope(_engine()) as session:
        if kind == ListKind.DEVICES:
            q = (
                select(
                    Device.id,
                    Device.role,
                    Device.site_id,
                    Device.address,
                    Device.snmp_profile,
                    Device.ssh_profile,
                )
                .join(Site)
                .order_by(Device.id)
            )
            q = DeviceFilter.of(district=district).apply(q)
            cols = ("id", "role", "site", "address", "snmp", "ssh")
        elif kind == ListKind.SITES:
            q = SiteFilter(district=district).apply(
                select(Site.id, Site.kind, Site.name, Site.village_code, Site.status).order_by(
                    Site.id
                )
            )
            cols = ("id", "kind", "name", "village", "status")
        elif kind == ListKind.LINKS:
            q = select(
                Link.id,
                Link.medium,
                Link.a_device,
                Link.z_device,
                Link.uplink_of,
                Link.capacity_bps,
            ).order_by(Link.id)
            if district:
                q = q.join(Site, Site.id == Link.uplink_of).where(Site.district_code == district)
            cols = ("id", "medium", "a", "z", "uplink of", "capacity bps")
        elif kind == ListKind.VILLAGES:
            q = (
                select(Region.code, Region.name, Region.level, Region.parent_code)
                .where(Region.level.in_(("desa", "kelurahan")))
                .order_by(Region.code)
            )
            if district:
                q = q.where(Region.parent_code == district)
            cols = ("code", "name", "level", "kecamatan")
        else:
            sub = (
                select(Region.parent_code, func.count().label("n"))
                .where(Region.level.in_(("desa", "kelurahan")))
                .group_by(Region.parent_code)
                .subquery()
            )
            q = (
                select(Region.code, Region.name, sub.c.n)
                .join(sub, sub.c.parent_code == Region.code, isouter=True)
                .where(Region.level == "kecamatan")
                .order_by(Region.code)
            )
            if district:
                q = q.where(Region.code == district)
            cols = ("code", "name", "villages")
        total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
        if limit:
            q = q.limit(limit)
        for col in cols:
            table.add_column(col)
        for row in session.execute(q):
            table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    if limit and total > limit:
        console.print(f"showing {limit} of {total:,}; use --limit 0 for all")


def register(app: typer.Typer) -> None:
    app.add_typer(inventory_app, name="inventory")
