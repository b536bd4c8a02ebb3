"""Test and benchmark data: the shipped Banyuwangi inventory plus observations written
straight into the collectors' tables (what a poller would have recorded)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from collectors.models import DeviceState, LinkState, StateTransition
from inventory.choices import DeviceRole
from inventory.models import Device, Link, Site, SiteFacility

ROOT = Path(__file__).resolve().parents[2]
BANYUWANGI = ROOT / "examples" / "banyuwangi"


@dataclass(slots=True)
class Scenario:
    """What to break in an otherwise healthy fleet."""

    down_links: set[str] = field(default_factory=set)
    old_kiosks: dict[str, str] = field(default_factory=dict)
    silent_kiosks: set[str] = field(default_factory=set)
    critical_sites: set[str] = field(default_factory=set)
    unattested: dict[str, str] = field(default_factory=dict)
    app_version: str = "2.5.1"


def import_banyuwangi(session: Session) -> None:
    """Import the shipped sample inventory (regions, sites, devices, fibre tree)."""
    from inventory.importer import import_paths

    import_paths(session, [BANYUWANGI])


def seed_observations(session: Session, *, now: datetime, scenario: Scenario | None = None,
                      healthy_facilities: bool = True) -> None:
    """Write fresh device/link states and 40 days of link history for the whole fleet."""
    scenario = scenario or Scenario()
    for table in (DeviceState, LinkState, StateTransition):
        session.execute(delete(table))
    start = now - timedelta(days=40)
    link_rows, transitions = [], []
    down_sites, cut_links = _behind(session, scenario.down_links)
    for (lid,) in session.execute(select(Link.id)):
        status = "down" if lid in scenario.down_links else "up"
        if lid in cut_links and status == "up":
            status = "unreachable"
        link_rows.append({"link_id": lid, "status": status, "since": start,
                          "updated_at": now - timedelta(minutes=1),
                          "checked_at": now - timedelta(minutes=1), "reason": None})
        transitions.append({"kind": "link", "subject": lid, "from_status": "unknown",
                            "to_status": "up", "at": start, "reason": None})
        if status != "up":
            at = now - timedelta(hours=2)
            link_rows[-1]["since"] = at
            transitions.append({"kind": "link", "subject": lid, "from_status": "up",
                                "to_status": status, "at": at, "reason": "oper down"})
    session.execute(LinkState.__table__.insert(), link_rows)
    session.execute(StateTransition.__table__.insert(), transitions)
    device_rows = []
    for did, role, site in session.execute(select(Device.id, Device.role, Device.site_id)):
        unreachable = site in down_sites
        silent = did in scenario.silent_kiosks
        ok = not unreachable and not silent
        device_rows.append({
            "device_id": did, "status": "up" if ok else ("unreachable" if unreachable else "down"),
            "observed_status": "up" if ok else "down", "since": start,
            "last_poll_at": now - timedelta(minutes=1),
            "last_ok_at": now - timedelta(minutes=1) if ok else now - timedelta(hours=3),
            "consecutive_failures": 0 if ok else 5, "polls_total": 100, "errors_total": 0,
            "timeouts_total": 0, "updated_at": now - timedelta(minutes=1),
            "checked_at": now - timedelta(minutes=1),
            "kiosk_app_version": scenario.old_kiosks.get(did, scenario.app_version)
            if role == DeviceRole.KIOSK else None,
        })
    session.execute(DeviceState.__table__.insert(), device_rows)
    if healthy_facilities:
        for f in session.scalars(select(SiteFacility)):
            f.value = max(f.value, 1)
            f.attested_at = now - timedelta(days=30)
            f.expires_at = now + timedelta(days=300)
            f.evidence = f.evidence or "docs/survey-2026.pdf"
        for site_id, facility in scenario.unattested.items():
            row = session.get(SiteFacility, (site_id, facility))
            if row is not None:
                row.value = 0
    if scenario.critical_sites:
        from alerts.models import Incident

        for i, site_id in enumerate(sorted(scenario.critical_sites)):
            site = session.get(Site, site_id)
            assert site is not None
            session.add(Incident(
                fingerprint=f"fp{i}", alertname="KioskDown", severity="critical", status="open",
                starts_at=now - timedelta(hours=1), site_id=site_id,
                village_code=site.village_code, district_code=site.district_code,
                summary="Kiosk app not responding", labels={}, annotations={}, deliveries=1,
                created_at=now, updated_at=now,
            ))
    session.commit()


def _behind(session: Session, links: Iterable[str]) -> tuple[set[str], set[str]]:
    """Sites and links cut off by ``links`` going down."""
    from inventory.topology import Node, Topology

    topo = Topology.load(session)
    sites: set[str] = set()
    cut: set[str] = set()
    for lid in links:
        sites |= topo.sites_behind(lid)
        cut |= {n.id for n in topo.behind(Node("link", lid)) if n.kind == "link"}
    return sites, cut
