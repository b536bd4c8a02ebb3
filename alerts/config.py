"""Generate Alertmanager and Prometheus configuration for an inventory.

``kentongan alerts render-config`` writes them; ``alerts/alertmanager.example.yml`` is this
module's output for the sample districts. The inhibition follows the fibre tree: every
series carries ``upstream_1`` … ``upstream_N`` (the links from the NOC down to the site) and
``FibreLinkDown`` carries ``link_depth``; one inhibit rule per depth ``d`` silences every
alert whose ``upstream_d`` equals the down link's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collectors.metrics import fibre_paths
from inventory.models import Region, Site
from inventory.topology import Topology

ROUTE_ROLES_GATEWAY = "router|olt"


@dataclass(frozen=True, slots=True)
class District:
    """A kecamatan that gets its own alert route."""

    code: str
    name: str


def inhibit_rules(max_depth: int) -> list[dict[str, Any]]:
    """Topology inhibition (one rule per fibre depth) plus site and severity rules."""
    rules: list[dict[str, Any]] = [
        {
            "source_matchers": ['alertname="FibreLinkDown"', f'link_depth="{depth}"'],
            "target_matchers": ['severity=~"critical|warning|info"'],
            "equal": [f"upstream_{depth}"],
        }
        for depth in range(1, max_depth + 1)
    ]
    rules.append({
        "source_matchers": ['alertname="DeviceDown"', f'role=~"{ROUTE_ROLES_GATEWAY}"'],
        "target_matchers": [f'role!~"{ROUTE_ROLES_GATEWAY}"', 'device=~".+"'],
        "equal": ["site"],
    })
    rules.append({
        "source_matchers": ['severity="critical"', 'device=~".+"'],
        "target_matchers": ['severity=~"warning|info"'],
        "equal": ["device"],
    })
    return rules


def alertmanager_config(
    districts: Sequence[District],
    *,
    webhook_url: str = "http://127.0.0.1:8000/api/v1/alerts",
    token_file: str = "/etc/kentongan/webhook_token",  # noqa: S107 - a path, not a secret
    max_depth: int = 6,
    group_wait: str = "30s",
    group_interval: str = "5m",
    repeat_interval: str = "4h",
    webhook_group_wait: str = "10s",
    webhook_group_interval: str = "1m",
) -> dict[str, Any]:
    """Alertmanager configuration: every alert to Kentongan's webhook, then routed by
    severity and district to the people on call, with topology inhibition.

    The webhook route has its own short timers (``webhook_group_wait``,
    ``webhook_group_interval``): incidents open within 2 minutes of the poller's verdict
    and resolve within 2 minutes of recovery (a resolved alert waits for its group's next
    interval), while e-mail keeps the calmer ``group_wait``/``group_interval``."""
    district_routes = [
        {
            "matchers": [f'district_code="{d.code}"'],
            "receiver": f"kecamatan-{d.code}",
        }
        for d in districts
    ]
    receivers: list[dict[str, Any]] = [
        {
            "name": "kentongan",
            "webhook_configs": [{
                "url": webhook_url,
                "send_resolved": True,
                "max_alerts": 0,
                "http_config": {
                    "authorization": {"type": "Bearer", "credentials_file": token_file},
                },
            }],
        },
        {"name": "noc-oncall", "email_configs": [{"to": "noc@diskominfo.example"}]},
        {"name": "noc-daytime", "email_configs": [{"to": "noc-siang@diskominfo.example"}]},
    ]
    receivers += [
        {
            "name": f"kecamatan-{d.code}",
            "email_configs": [{"to": f"teknisi-{d.code.replace('.', '-')}@diskominfo.example"}],
        }
        for d in districts
    ]
    return {
        "global": {
            "resolve_timeout": "5m",
            "smtp_smarthost": "smtp.diskominfo.example:587",
            "smtp_from": "kentongan@diskominfo.example",
        },
        "route": {
            "receiver": "noc-daytime",
            "group_by": ["alertname", "district_code", "site", "link"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
            "routes": [
                {
                    "receiver": "kentongan",
                    "matchers": ['severity=~"critical|warning|info"'],
                    "group_by": ["..."],
                    "group_wait": webhook_group_wait,
                    "group_interval": webhook_group_interval,
                    "continue": True,
                },
                {
                    "receiver": "noc-oncall",
                    "matchers": ['severity="critical"'],
                    "routes": [{"receiver": "noc-oncall", "continue": True}, *district_routes],
                },
                {
                    "receiver": "noc-daytime",
                    "matchers": ['severity=~"warning|info"'],
                    "routes": district_routes,
                },
            ],
        },
        "inhibit_rules": inhibit_rules(max_depth),
        "receivers": receivers,
    }


def prometheus_config(
    *,
    mode: str,
    kentongan: str = "127.0.0.1:8000",
    alertmanager: str = "127.0.0.1:9093",
    rule_files: Sequence[str] = ("/etc/prometheus/kentongan/*.yml",),
    shards: int = 1,
    shard: int = 0,
    module: str = "snmp",
    scrape_interval: str = "30s",
    evaluation_interval: str = "15s",
    scrape_token_file: str | None = None,
) -> dict[str, Any]:
    """prometheus.yml for ``mode`` ``embedded`` (scrape Kentongan's ``/metrics``) or
    ``probe`` (http_sd targets scraped through ``/probe``, sharded with ``hashmod``).

    A 30 s scrape and 15 s evaluation keep an incident within 2 minutes of the poller's
    verdict (scrape + evaluation + ``for:`` + Alertmanager's webhook group_wait).

    With ``scrape_token_file`` every job and the http_sd request present the scrape
    credential (``authorization: {type: Bearer, credentials_file: …}``): Prometheus reads
    the token from that file, so prometheus.yml itself holds no secret.
    """
    if mode == "embedded":
        jobs: list[dict[str, Any]] = [{
            "job_name": "kentongan",
            "scrape_interval": scrape_interval,
            "static_configs": [{"targets": [kentongan]}],
        }]
    elif mode == "probe":
        jobs = [
            {
                "job_name": "kentongan-probe",
                "scrape_interval": scrape_interval,
                "metrics_path": "/probe",
                "params": {"module": [module]},
                "http_sd_configs": [{
                    "url": f"http://{kentongan}/api/v1/sd/prometheus",
                    "refresh_interval": "5m",
                }],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__tmp_hash",
                     "modulus": shards, "action": "hashmod"},
                    {"source_labels": ["__tmp_hash"], "regex": str(shard), "action": "keep"},
                    {"source_labels": ["device"], "target_label": "__param_target"},
                    {"source_labels": ["device"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": kentongan},
                ],
            },
            {
                "job_name": "kentongan",
                "scrape_interval": scrape_interval,
                "static_configs": [{"targets": [kentongan]}],
            },
        ]
    else:
        raise ValueError(f"unknown mode {mode!r}: use embedded or probe")
    if scrape_token_file:
        auth = {"type": "Bearer", "credentials_file": scrape_token_file}
        for job in jobs:
            job["authorization"] = dict(auth)
            for sd in job.get("http_sd_configs", []):
                sd["authorization"] = dict(auth)
    return {
        "global": {"scrape_interval": scrape_interval,
                   "evaluation_interval": evaluation_interval},
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": jobs,
    }


def inventory_districts(session: Session) -> list[District]:
    """Districts that have sites, with their names."""
    rows = session.execute(
        select(Site.district_code, func.coalesce(Region.name, Site.district_code))
        .outerjoin(Region, Region.code == Site.district_code)
        .distinct()
        .order_by(Site.district_code)
    ).all()
    return [District(code=code, name=name) for code, name in rows]


def inventory_max_depth(session: Session) -> int:
    """The deepest fibre path of the inventory (at least 1)."""
    paths = fibre_paths(Topology.load(session))
    return max([len(p) for p in paths.link.values()] + [1])


def dump(data: dict[str, Any], *, header: str = "") -> str:
    """YAML text with an optional comment header."""
    return header + yaml.safe_dump(data, sort_keys=False, width=100)


EXAMPLE_DISTRICTS = (District("35.10.15", "Glagah"), District("35.10.13", "Rogojampi"))
EXAMPLE_HEADER = """\
# Alertmanager example for Kentongan (generated by alerts.config.example_alertmanager();
# `kentongan alerts render-config` writes one for your inventory's districts and depth).
# Every alert goes to Kentongan's webhook (incidents); critical alerts page the NOC on call
# and the district's technicians; warnings go to the daytime NOC queue and the district.
# Inhibition follows the fibre tree: a FibreLinkDown at depth d silences every alert whose
# upstream_d is that link, so one fibre cut is one page naming the cut.
"""


def example_alertmanager() -> str:
    """The text of ``alerts/alertmanager.example.yml``."""
    return dump(alertmanager_config(EXAMPLE_DISTRICTS), header=EXAMPLE_HEADER)
