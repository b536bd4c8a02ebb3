"""Provisioning and fact collection: run ``kiosk-provision.yml`` / ``kiosk-facts.yml`` on
the kiosks a filter selects, and store what the kiosks report in ``kiosk_facts``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.timeutil import utcnow
from inventory.db import session_scope
from playbooks.models import KioskFacts
from playbooks.runner import PlaybookResult, run_playbook
from playbooks.targets import TargetFilter, ansible_inventory, select_targets

logger = logging.getLogger(__name__)

REPORT_TASK = "Report the kiosk facts"


@dataclass(frozen=True, slots=True)
class FactsReport:
    """What one kiosk reported."""

    device_id: str
    os_name: str | None
    kernel: str | None
    disk_total_bytes: int | None
    disk_free_bytes: int | None
    app_version: str | None


def _root_mount(mounts: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for mount in mounts:
        if mount.get("mount") == "/":
            return mount
    return mounts[0] if mounts else None


def _report(device_id: str, data: Mapping[str, Any]) -> FactsReport:
    mount = _root_mount(list(data.get("mounts") or []))
    return FactsReport(
        device_id=device_id,
        os_name=(str(data.get("os") or "").strip() or None),
        kernel=(str(data.get("kernel") or "").strip() or None),
        disk_total_bytes=int(mount["size_total"]) if mount and mount.get("size_total") else None,
        disk_free_bytes=(
            int(mount["size_available"]) if mount and mount.get("size_available") else None
        ),
        app_version=(str(data.get("app_version") or "").strip() or None),
    )


def collect_facts(
    engine: Engine,
    target: TargetFilter,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    envvars: Mapping[str, str] | None = None,
    forks: int = 20,
    site_vars_file: Path | None = None,
) -> dict[str, FactsReport]:
    """Run ``kiosk-facts.yml`` on the selected kiosks and store their reports.

    Returns the reports by device id (unreachable kiosks are absent).
    """
    with session_scope(engine) as session:
        targets = select_targets(session, target)
    reports: dict[str, FactsReport] = {}

    def handler(event: Mapping[str, Any]) -> None:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("task") == REPORT_TASK:
            facts = (data.get("res") or {}).get("ansible_facts") or {}
            if "kiosk_facts_report" in facts:
                reports[data["host"]] = _report(data["host"], facts["kiosk_facts_report"])

    run_playbook(
        "kiosk-facts.yml",
        ansible_inventory(targets),
        extravars=extra_vars,
        forks=forks,
        event_handler=handler,
        envvars=envvars,
        site_vars_file=site_vars_file,
    )
    now = utcnow()
    with session_scope(engine) as session:
        for report in reports.values():
            row = session.get(KioskFacts, report.device_id) or KioskFacts(
                device_id=report.device_id
            )
            row.os_name = report.os_name
            row.kernel = report.kernel
            row.disk_total_bytes = report.disk_total_bytes
            row.disk_free_bytes = report.disk_free_bytes
            row.app_version = report.app_version
            row.collected_at = now
            session.add(row)
    logger.info("kiosk facts: %d of %d kiosk(s) reported", len(reports), len(targets))
    return reports


def provision(
    engine: Engine,
    target: TargetFilter,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    envvars: Mapping[str, str] | None = None,
    forks: int = 20,
    site_vars_file: Path | None = None,
) -> PlaybookResult:
    """Run ``kiosk-provision.yml`` on the selected kiosks."""
    with session_scope(engine) as session:
        targets = select_targets(session, target)
    return run_playbook(
        "kiosk-provision.yml",
        ansible_inventory(targets),
        extravars=extra_vars,
        forks=forks,
        envvars=envvars,
        site_vars_file=site_vars_file,
    )
