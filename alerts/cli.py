"""Commands of the alerts package: ``kentongan alerts render-config``, ``kentongan alerts
incidents`` and ``kentongan report sla``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from alerts.sla import CohortLike

CohortSource = Callable[[Settings], Sequence["CohortLike"]]
"""Gives the programme cohorts for ``settings`` (the readiness policy's, passed in by the
composition root: alerts/ does not import api/)."""


def _no_cohorts(_settings: Settings) -> Sequence[CohortLike]:
    return ()


@dataclass
class _Wiring:
    cohort_source: CohortSource = _no_cohorts


_wiring = _Wiring()

console = Console(stderr=True)
out = Console()
alerts_app = typer.Typer(help="Prometheus rules, Alertmanager config and incidents.",
                         no_args_is_help=True)
report_app = typer.Typer(help="Reports.", no_args_is_help=True)
RULES = Path(__file__).resolve().parent / "rules"


def _session() -> Session:
    from sqlalchemy.orm import Session

    from inventory.db import get_engine

    return Session(bind=get_engine(get_settings().database_url), expire_on_commit=False)


@alerts_app.command("render-config")
def render_config(
    out_dir: Path = typer.Option(Path("prometheus-config"), "--out", help="Directory to write."),
    kentongan: str = typer.Option("127.0.0.1:8000", help="host:port of `kentongan serve`."),
    alertmanager: str = typer.Option("127.0.0.1:9093", help="host:port of Alertmanager."),
    token_file: str = typer.Option(
        "/etc/kentongan/webhook_token",
        help="File Alertmanager reads the webhook bearer token from (KENTONGAN_WEBHOOK_TOKEN).",
    ),
    scrape_token_file: str | None = typer.Option(
        None,
        help="File Prometheus reads the scrape bearer token from (default: the server's "
        "KENTONGAN_SCRAPE_TOKEN_FILE, else /etc/kentongan/scrape_token).",
    ),
    shards: int = typer.Option(1, min=1, help="Prometheus shards for probe mode (hashmod)."),
) -> None:
    """Write alertmanager.yml, prometheus-embedded.yml, prometheus-probe-<n>.yml and the
    rule files for this inventory (its districts and fibre depth).

    Every scrape job (and the http_sd request) presents the scrape credential:
    ``authorization: {type: Bearer, credentials_file: SCRAPE_TOKEN_FILE}``.

    Example:  kentongan alerts render-config --out /etc/prometheus/kentongan --shards 2
    """
    from alerts.config import (
        alertmanager_config,
        dump,
        inventory_districts,
        inventory_max_depth,
        prometheus_config,
    )

    configured = get_settings().scrape_token_file
    scrape_file = scrape_token_file or (str(configured) if configured
                                        else "/etc/kentongan/scrape_token")
    with _session() as session:
        districts = inventory_districts(session)
        depth = inventory_max_depth(session)
    out_dir.mkdir(parents=True, exist_ok=True)
    rules_dir = out_dir / "rules"
    rules_dir.mkdir(exist_ok=True)
    for rule_file in RULES.glob("*.yml"):
        shutil.copy(rule_file, rules_dir / rule_file.name)
    rule_glob = [str(rules_dir.resolve() / "*.yml")]
    written = [out_dir / "alertmanager.yml", out_dir / "prometheus-embedded.yml"]
    written[0].write_text(dump(alertmanager_config(
        districts, webhook_url=f"http://{kentongan}/api/v1/alerts", token_file=token_file,
        max_depth=depth)))
    written[1].write_text(dump(prometheus_config(
        mode="embedded", kentongan=kentongan, alertmanager=alertmanager, rule_files=rule_glob,
        scrape_token_file=scrape_file)))
    for shard in range(shards):
        path = out_dir / f"prometheus-probe-{shard}.yml"
        path.write_text(dump(prometheus_config(
            mode="probe", kentongan=kentongan, alertmanager=alertmanager,
            rule_files=rule_glob, shards=shards, shard=shard, scrape_token_file=scrape_file)))
        written.append(path)
    for path in written:
        out.print(str(path))
    console.print(f"[green]{len(districts)} district routes, {depth} inhibition levels[/]")


@alerts_app.command("incidents")
def incidents(
    status: str | None = typer.Option(None, help="open or resolved"),
    district: str | None = typer.Option(None, help="Kemendagri code of the kecamatan"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """List incidents, newest first.

    Example:  kentongan alerts incidents --status open
    """
    from alerts.incidents import list_incidents
    from core.timeutil import format_wib

    with _session() as session:
        rows = list_incidents(session, status=status, district=district, limit=limit)
        table = Table("id", "since (WIB)", "status", "severity", "alert", "subject",
                      "probable cause")
        for inc in rows:
            table.add_row(str(inc.id), format_wib(inc.starts_at), inc.status, inc.severity,
                          inc.alertname, inc.device_id or inc.link_id or "-",
                          f"{inc.probable_cause_kind}:{inc.probable_cause}"
                          if inc.probable_cause else "-")
    out.print(table)


@report_app.command("sla")
def report_sla(
    month: str = typer.Option(..., help="YYYY-MM (calendar month in WIB)"),
    district: str | None = typer.Option(None),
    village: str | None = typer.Option(None),
    cohort: str | None = typer.Option(None),
    fmt: str = typer.Option("table", "--format", help="table, csv or json"),
) -> None:
    """Monthly SLA per village, district and cohort, outages attributed to their cause.

    Example:  kentongan report sla --month 2026-10 --format csv > sla-2026-10.csv
    """
    from alerts.sla import ReportError, sla_report, to_csv
    from collectors.promquery import availability_many_source, availability_source_name
    from collectors.store import StorePolicy

    settings = get_settings()
    with _session() as session:
        try:
            report = sla_report(
                session, month=month, district=district, village=village, cohort=cohort,
                availability_many_fn=availability_many_source(
                    settings.prometheus_url, policy=StorePolicy.from_settings(settings)),
                source=availability_source_name(settings),
                cohorts=_wiring.cohort_source(settings),
            )
        except ReportError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
    if fmt == "csv":
        typer.echo(to_csv(report), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        table = Table("scope", "id", "name", "availability %", "outages", "link s", "power s",
                      "device s", title=f"SLA {report.month} ({report.source})")
        for row in report.rows():
            pct = "-" if row.availability_percent is None else f"{row.availability_percent:.3f}"
            table.add_row(row.scope, row.id, row.name, pct, str(row.outages),
                          f"{row.link_outage_s:.0f}", f"{row.power_outage_s:.0f}",
                          f"{row.device_outage_s:.0f}")
        out.print(table)


def register(app: typer.Typer, *, cohort_source: CohortSource | None = None) -> None:
    """Add this package's commands to the root app; ``cohort_source(settings)`` gives the
    programme cohorts ``report sla`` reports on (the composition root passes the readiness
    policy's; without it the report has no cohort rows)."""
    if cohort_source is not None:
        _wiring.cohort_source = cohort_source
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(report_app, name="report")
