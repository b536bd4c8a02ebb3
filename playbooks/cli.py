"""``kentongan rollout …``: start, watch, resume and abort kiosk app rollouts; provision
kiosks and read their facts back."""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.errors import KentonganError
from core.settings import get_settings
from core.timeutil import format_wib
from playbooks.choices import WaveMode
from playbooks.rollout import (
    HostProgress,
    RolloutOptions,
    RolloutSummary,
    abort_rollout,
    create_rollout,
    parse_percent,
    resume_rollout,
    rollout_is_stale,
    run_rollout,
)
from playbooks.runner import UnsafeKeyError, unsafe
from playbooks.targets import TargetFilter

logger = logging.getLogger(__name__)
console = Console(stderr=True)
out = Console()

rollout_app = typer.Typer(
    help=(
        "Roll kiosk app releases out in batches, with health checks and rollback.\n\n"
        "Example:  kentongan rollout start --version 1.4.0 --release-dir /srv/kiosk-releases "
        "--canary 1 --batch 25% --max-fail 10% --district 35.10.15"
    ),
    no_args_is_help=True,
)


def _engine() -> Engine:
    from inventory.db import get_engine

    return get_engine(get_settings().database_url)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except KentonganError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except (OperationalError, ProgrammingError) as exc:
        console.print(
            f"[red]error:[/] database not ready ({type(exc).__name__}); "
            "run `kentongan db upgrade` first"
        )
        raise typer.Exit(2) from None


def _extra_vars(pairs: list[str], vars_file: Path | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if vars_file is not None:
        try:
            loaded = yaml.safe_load(vars_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise typer.BadParameter(f"{vars_file}: {exc}", param_hint="--vars-file") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"{vars_file}: expected a mapping", param_hint="--vars-file")
        extra.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        extra[key.strip()] = value
    try:
        unsafe(extra, where="--var/--vars-file")
    except UnsafeKeyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--vars-file") from None
    return extra


def _run_with_progress(summary_fn: Any, total_hint: int | None = None) -> RolloutSummary:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("kiosks", total=total_hint, last="")

        def on_progress(update: HostProgress) -> None:
            progress.update(
                bar,
                total=update.total,
                completed=update.done,
                last=f"{update.device_id}: {update.state}",
            )

        def on_event(event: dict[str, Any]) -> None:
            data = event.get("event_data") or {}
            if event.get("event") == "playbook_on_task_start":
                progress.update(bar, description=str(data.get("task", "kiosks"))[:40])

        summary: RolloutSummary = summary_fn(progress=on_progress, event_hook=on_event)
        progress.update(bar, description="done")
    return summary


def _print_summary(summary: RolloutSummary) -> None:
    colour = {
        "completed": "green",
        "paused": "yellow",
        "halted": "red",
        "failed": "red",
        "aborted": "red",
    }.get(summary.status, "white")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    console.print(
        f"rollout {summary.rollout_id}: [{colour}]{summary.status}[/] ({counts})"
        + (f" — {summary.message}" if summary.message else "")
    )


def _exit_code(summary: RolloutSummary) -> int:
    return 0 if summary.status in ("completed", "paused") else 1


@rollout_app.command("start")
def start(
    version: str = typer.Option(..., "--version", help="Release to install, e.g. 1.4.0."),
    canary: int = typer.Option(1, help="Kiosks in the first (canary) batch; 0 for none."),
    batch: str = typer.Option("25%", help="Batch size after the canary: N kiosks or P%."),
    max_fail: str = typer.Option("10%", "--max-fail", help="Halt above this failure share."),
    pause: float = typer.Option(0.0, help="Seconds to wait between batches."),
    district: str | None = typer.Option(None, help="Only this kecamatan (e.g. 35.10.15)."),
    village: str | None = typer.Option(None, help="Only this desa/kelurahan code."),
    role: str = typer.Option("kiosk", help="Device role to target."),
    tag: list[str] = typer.Option([], "--tag", help="Only devices with this tag (repeat)."),
    device: list[str] = typer.Option([], "--device", help="Only this device id (repeat)."),
    waves: WaveMode = typer.Option(
        WaveMode.FLAT, help="flat, or tree: a canary village then kecamatan by kecamatan."
    ),
    canary_village: str | None = typer.Option(None, help="Canary village code (tree waves)."),
    release_dir: Path | None = typer.Option(
        None, help="Directory of kiosk-app-V.tar.gz (+ .sha256); default KENTONGAN_RELEASE_DIR."
    ),
    url: str | None = typer.Option(
        None, help="Kiosks download the release from this URL (under KENTONGAN_RELEASE_SOURCES)."
    ),
    sha256: str | None = typer.Option(None, help="sha256 of the release tarball."),
    forks: int = typer.Option(20, help="Kiosks updated in parallel within a batch."),
    var: list[str] = typer.Option([], "--var", help="Extra playbook variable KEY=VALUE."),
    vars_file: Path | None = typer.Option(None, help="YAML/JSON file of playbook variables."),
    auto_resume: bool | None = typer.Option(
        None, "--auto-resume/--no-auto-resume",
        help="Resume offline kiosks when the poller sees them up (default: setting).",
    ),
    ignore_service_hours: bool = typer.Option(
        False, help="Restart kiosks even during office service hours (emergencies only)."
    ),
    wait: bool = typer.Option(False, help="Wait for service hours to end instead of pausing."),
    run: bool = typer.Option(True, "--run/--no-run", help="Only create the rollout record."),
) -> None:
    """Start rolling release VERSION out to the selected kiosks.

    Values given here (and the inventory's) reach Ansible as data, never as templates;
    site-wide variables that need templates go in KENTONGAN_PLAYBOOK_VARS_FILE.

    Example:  kentongan rollout start --version 1.4.0 --release-dir /srv/kiosk-releases
    --canary 1 --batch 25% --max-fail 10% --district 35.10.15
    """
    from playbooks.release import (
        DownloadAttempt,
        ReleaseSources,
        pick_release_dir,
        resolve_release,
    )

    settings = get_settings()
    person = f"cli:{getpass.getuser()}"
    sources = ReleaseSources.from_entries(settings.release_sources)

    def record(attempt: DownloadAttempt) -> None:
        logger.warning("audit: release download by %s: %s %s (%s)", person, attempt.outcome,
                       attempt.url, attempt.reason or "-")

    with _errors():
        extra = _extra_vars(var, vars_file)
        release = resolve_release(
            version,
            release_dir=release_dir
            or pick_release_dir(version, [settings.release_dir, *sources.directories]),
            url=url,
            sha256=sha256,
            sources=sources,
            timeout=settings.release_download_timeout,
            max_bytes=settings.release_download_max_bytes,
            record=record,
        )
        options = RolloutOptions(
            canary=canary,
            batch=batch,
            max_fail=parse_percent(max_fail),
            pause=pause,
            waves=waves,
            canary_village=canary_village,
            forks=forks,
            extra_vars=extra,
            respect_service_hours=not ignore_service_hours,
            auto_resume=auto_resume,
        )
        flt = TargetFilter(
            district=district,
            village=village,
            role=role,
            tags=tuple(tag),
            devices=tuple(device),
        )
        engine = _engine()
        rid = create_rollout(engine, release, target=flt, options=options, created_by=person)
        console.print(f"rollout [bold]{rid}[/] created: release {version}")
        out.print(rid)
        if not run:
            return
        summary = _run_with_progress(
            lambda **kw: run_rollout(engine, rid, wait_for_window=wait, **kw)
        )
    _print_summary(summary)
    raise typer.Exit(_exit_code(summary))


@rollout_app.command("resume")
def resume(
    rollout_id: int = typer.Argument(..., help="Rollout id (see `kentongan rollout list`)."),
    wait: bool = typer.Option(False, help="Wait for service hours to end instead of pausing."),
) -> None:
    """Continue a paused or interrupted rollout; finished kiosks are not touched again.

    Example:  kentongan rollout resume 12
    """
    with _errors():
        engine = _engine()
        summary = _run_with_progress(
            lambda **kw: resume_rollout(engine, rollout_id, wait_for_window=wait, **kw)
        )
    _print_summary(summary)
    raise typer.Exit(_exit_code(summary))


@rollout_app.command("abort")
def abort(rollout_id: int = typer.Argument(..., help="Rollout id.")) -> None:
    """Stop a rollout: kiosks not yet updated are skipped.

    Example:  kentongan rollout abort 12
    """
    with _errors():
        summary = abort_rollout(_engine(), rollout_id, by=f"cli:{getpass.getuser()}")
    _print_summary(summary)


@rollout_app.command("status")
def status(
    rollout_id: int = typer.Argument(..., help="Rollout id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a rollout and every kiosk's state, last task and message (times in WIB).

    Example:  kentongan rollout status 12
    """
    from inventory.db import session_scope
    from playbooks.api_views import rollout_detail

    with _errors():
        with session_scope(_engine()) as session:
            detail = rollout_detail(session, rollout_id)
        if detail is None:
            console.print(f"[red]error:[/] no rollout {rollout_id}; see `kentongan rollout list`")
            raise typer.Exit(2)
    if as_json:
        out.print_json(json.dumps(detail.model_dump(mode="json")))
        return
    stale = " [red](stale: its process is gone — resume it)[/]" if detail.stale else ""
    out.print(
        f"[bold]rollout {detail.id}[/] release {detail.version}: {detail.status}{stale}"
        + (f" — {detail.message}" if detail.message else "")
    )
    out.print(
        f"created {format_wib(detail.created_at)} by {detail.created_by}; "
        f"updated {format_wib(detail.updated_at, seconds=True)}"
    )
    # Whole messages, wrapped in their column (a cut-off reason hides what to do).
    table = Table("batch", "kiosk", "village", "state", "tries")
    table.add_column("last task", overflow="fold", ratio=1)
    table.add_column("message", overflow="fold", ratio=3)
    for h in detail.hosts:
        table.add_row(
            str(h.batch), h.device_id, h.village_code or "", h.state, str(h.attempts),
            h.last_task or "", h.message or "",
        )
    out.print(table)


@rollout_app.command("list")
def list_rollouts(
    limit: int = typer.Option(20, help="How many, newest first."),
) -> None:
    """List rollouts, newest first.

    Example:  kentongan rollout list
    """
    from inventory.db import session_scope
    from playbooks.models import Rollout

    with _errors(), session_scope(_engine()) as session:
        rows = session.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(limit)).all()
        table = Table("id", "release", "status", "created (WIB)", "by", "message")
        for r in rows:
            state = r.status + (" (stale)" if rollout_is_stale(r) else "")
            table.add_row(str(r.id), r.version, state, format_wib(r.created_at), r.created_by,
                          (r.message or "")[:60])
    out.print(table)


@rollout_app.command("provision")
def provision_cmd(
    district: str | None = typer.Option(None, help="Only this kecamatan."),
    village: str | None = typer.Option(None, help="Only this desa/kelurahan."),
    tag: list[str] = typer.Option([], "--tag", help="Only devices with this tag (repeat)."),
    device: list[str] = typer.Option([], "--device", help="Only this device id (repeat)."),
    var: list[str] = typer.Option([], "--var", help="Extra playbook variable KEY=VALUE."),
    vars_file: Path | None = typer.Option(None, help="YAML/JSON file of playbook variables."),
) -> None:
    """Provision kiosks (user, app service, browser, watchdog, snmpd, SSH, time zone).

    Example:  kentongan rollout provision --device kiosk-kemiren-1
    """
    from playbooks.facts import provision

    with _errors():
        flt = TargetFilter(district=district, village=village, tags=tuple(tag),
                           devices=tuple(device))
        with console.status("provisioning…"):
            result = provision(_engine(), flt, extra_vars=_extra_vars(var, vars_file),
                               site_vars_file=get_settings().playbook_vars_file)
    failed = result.hosts_in("failures") | result.hosts_in("dark")
    console.print(
        f"provisioned: {result.status}; changed {len(result.hosts_in('changed'))}, "
        f"failed/unreachable {', '.join(sorted(failed)) or 'none'}"
    )
    raise typer.Exit(0 if not failed else 1)


@rollout_app.command("facts")
def facts_cmd(
    district: str | None = typer.Option(None, help="Only this kecamatan."),
    village: str | None = typer.Option(None, help="Only this desa/kelurahan."),
    device: list[str] = typer.Option([], "--device", help="Only this device id (repeat)."),
    var: list[str] = typer.Option([], "--var", help="Extra playbook variable KEY=VALUE."),
    vars_file: Path | None = typer.Option(None, help="YAML/JSON file of playbook variables."),
) -> None:
    """Read OS, disk and app version from kiosks into the inventory database.

    Example:  kentongan rollout facts --district 35.10.15
    """
    from playbooks.facts import collect_facts

    with _errors():
        flt = TargetFilter(district=district, village=village, devices=tuple(device))
        with console.status("collecting facts…"):
            reports = collect_facts(_engine(), flt, extra_vars=_extra_vars(var, vars_file),
                                    site_vars_file=get_settings().playbook_vars_file)
    table = Table("kiosk", "OS", "app", "disk free")
    for r in sorted(reports.values(), key=lambda r: r.device_id):
        free = f"{r.disk_free_bytes / 2**30:.1f} GiB" if r.disk_free_bytes else "-"
        table.add_row(r.device_id, r.os_name or "-", r.app_version or "-", free)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(rollout_app, name="rollout")
