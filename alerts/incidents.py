"""Incidents from Alertmanager's webhook (payload version 4).

A delivery is validated whole before anything is written: every alert needs ``alertname``
and ``severity`` labels and a subject that exists in the inventory (``device``, else
``link``; only system alerts such as PollerStalled may have neither). Incidents are keyed by
``(fingerprint, startsAt)``: a repeated delivery changes nothing; a *firing* delivery of an
incident already resolved is a replay and is refused (409). Flapping alerts
(:data:`FLAP_ALERTS`: UPS on battery): a new firing within :data:`FLAP_WINDOW` of the
last one's end continues that incident and counts a flap, so flapping power is one
incident, not dozens. Area outages: when devices of
two or more sites behind one upstream link are down together, an ``AreaOutage`` incident
names the link, and the device incidents carry it as their probable cause.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Incident
from alerts.rootcause import Cause, CauseKind, area_outages, device_cause
from core.errors import KentonganError
from core.timeutil import as_utc, utcnow
from inventory.models import Device, Link, Site
from inventory.topology import Topology

logger = logging.getLogger(__name__)

SYSTEM_ALERTS = frozenset({"PollerStalled"})
#: Alerts whose new firing soon after the last one ended continues that incident (its
#: ``flaps`` counted) instead of opening another: flapping power is one incident.
FLAP_ALERTS = frozenset({"UPSOnBattery"})
FLAP_WINDOW = timedelta(minutes=15)
SEVERITIES = frozenset({"critical", "warning", "info"})
DEVICE_OUTAGE_ALERTS = frozenset({"DeviceDown", "KioskOffline"})
AREA_ALERT = "AreaOutage"
OPEN, RESOLVED = "open", "resolved"


class WebhookError(KentonganError):
    """A delivery refused whole; ``status`` is the HTTP status, ``index`` the alert."""

    def __init__(self, message: str, *, status: int = 422, index: int | None = None) -> None:
        where = f"alerts[{index}]: " if index is not None else ""
        super().__init__(where + message)
        self.status = status
        self.index = index


class AlertIn(BaseModel):
    """One alert of an Alertmanager webhook delivery."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str = Field(min_length=1, max_length=64)


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AlertIn] = Field(min_length=1)


class DeliveryResult(BaseModel):
    """What a delivery did."""

    opened: int = 0
    resolved: int = 0
    unchanged: int = 0
    flapped: int = 0
    incidents: list[int] = Field(default_factory=list)


_ZERO_YEAR = 1  # Alertmanager sends 0001-01-01T00:00:00Z for "no end" on firing alerts


def _end(alert: AlertIn) -> datetime | None:
    if alert.endsAt is None or alert.endsAt.year <= _ZERO_YEAR:
        return None
    return as_utc(alert.endsAt)


def _subject(session: Session, alert: AlertIn, index: int) -> dict[str, Any]:
    labels = alert.labels
    for key in ("alertname", "severity"):
        if not labels.get(key):
            raise WebhookError(f"missing label {key!r}", index=index)
    if labels["severity"] not in SEVERITIES:
        raise WebhookError(
            f"unknown severity {labels['severity']!r} (use critical, warning or info)",
            index=index,
        )
    device_id, link_id = labels.get("device"), labels.get("link")
    device = link = None
    if device_id:
        device = session.get(Device, device_id)
        if device is None:
            raise WebhookError(f"unknown device {device_id!r}", index=index)
    elif link_id:
        link = session.get(Link, link_id)
        if link is None:
            raise WebhookError(f"unknown link {link_id!r}", index=index)
        device_id = link.z_device
    elif labels["alertname"] not in SYSTEM_ALERTS:
        raise WebhookError(
            "missing label 'device' or 'link' (only system alerts may have neither)",
            index=index,
        )
    site_id = device.site_id if device else (link.uplink_of if link else None)
    if site_id is None and device_id:
        dev = session.get(Device, device_id)
        site_id = dev.site_id if dev else None
    site = session.get(Site, site_id) if site_id else None
    return {
        "device_id": device_id,
        "link_id": link.id if link else None,
        "site_id": site_id,
        "village_code": site.village_code if site else None,
        "district_code": site.district_code if site else None,
    }


def apply_delivery(
    session: Session, payload: WebhookPayload, *, now: datetime | None = None
) -> DeliveryResult:
    """Record one delivery: validate every alert, then open/resolve incidents.

    The caller commits. Raises :class:`WebhookError` (nothing written) on bad input.
    """
    now = as_utc(now or utcnow())
    plan: list[tuple[AlertIn, dict[str, Any], Incident | None, Incident | None]] = []
    seen: set[tuple[str, datetime]] = set()
    for index, alert in enumerate(payload.alerts):
        subject = _subject(session, alert, index)
        starts = as_utc(alert.startsAt)
        ends = _end(alert)
        if alert.status == "resolved" and ends is None:
            raise WebhookError("resolved alert without endsAt", index=index)
        if ends is not None and ends < starts:
            raise WebhookError("endsAt is before startsAt", index=index)
        key = (alert.fingerprint, starts)
        if key in seen:
            raise WebhookError("the same alert appears twice in one delivery", index=index)
        seen.add(key)
        existing = session.scalars(
            select(Incident).where(
                Incident.fingerprint == alert.fingerprint,
                (Incident.starts_at == starts) | (Incident.last_starts_at == starts),
            )
        ).first()
        continued = None
        if existing is None and alert.labels.get("alertname") in FLAP_ALERTS:
            continued = _flapping(session, alert.fingerprint, starts)
            last = continued.last_starts_at if continued is not None else None
            if continued is not None and last is not None and starts <= as_utc(last):
                raise WebhookError(
                    f"replayed delivery: a firing of incident {continued.id} "
                    f"({alert.fingerprint}) older than its latest one",
                    status=409,
                    index=index,
                )
        if existing is not None and existing.status == RESOLVED and alert.status == "firing":
            raise WebhookError(
                f"replayed delivery: incident {existing.id} ({alert.fingerprint}) was already "
                "resolved",
                status=409,
                index=index,
            )
        plan.append((alert, subject, existing, continued))

    result = DeliveryResult()
    for alert, subject, existing, continued in plan:
        if continued is not None:
            continued.flaps = (continued.flaps or 0) + 1
            continued.last_starts_at = as_utc(alert.startsAt)
            continued.deliveries = (continued.deliveries or 0) + 1
            continued.updated_at = now
            if alert.status == "firing":
                continued.status, continued.ends_at = OPEN, None
            else:
                continued.status, continued.ends_at = RESOLVED, _end(alert)
            result.flapped += 1
            result.incidents.append(continued.id)
            logger.info("incident %s flapped again (%d flaps)", continued.id, continued.flaps)
        elif existing is None:
            incident = _new_incident(alert, subject, receiver=payload.receiver, now=now)
            session.add(incident)
            session.flush()
            result.opened += incident.status == OPEN
            result.resolved += incident.status == RESOLVED
            result.incidents.append(incident.id)
            logger.info("incident %s opened: %s %s", incident.id, incident.alertname,
                        incident.device_id or incident.link_id or "-")
        elif alert.status == "resolved" and existing.status == OPEN:
            existing.status = RESOLVED
            existing.ends_at = _end(alert)
            existing.updated_at = now
            result.resolved += 1
            result.incidents.append(existing.id)
            logger.info("incident %s resolved", existing.id)
        else:
            result.unchanged += 1
            result.incidents.append(existing.id)
    session.flush()
    correlate(session, now=now)
    return result


def _flapping(session: Session, fingerprint: str, starts: datetime) -> Incident | None:
    """The incident a new firing of a flapping alert continues: the latest one of the same
    series that is open or ended within :data:`FLAP_WINDOW` before ``starts``."""
    latest = session.scalars(
        select(Incident)
        .where(Incident.fingerprint == fingerprint, Incident.starts_at < starts)
        .order_by(Incident.starts_at.desc(), Incident.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    if latest.status == OPEN or latest.ends_at is None:
        return latest
    return latest if as_utc(latest.ends_at) >= starts - FLAP_WINDOW else None


def _new_incident(
    alert: AlertIn, subject: dict[str, Any], *, receiver: str, now: datetime
) -> Incident:
    labels = alert.labels
    ends = _end(alert)
    cause: Cause | None = None
    if labels["alertname"] == "FibreLinkDown" and subject["link_id"]:
        cause = Cause(CauseKind.LINK, subject["link_id"])
    return Incident(
        fingerprint=alert.fingerprint,
        alertname=labels["alertname"],
        severity=labels["severity"],
        status=RESOLVED if alert.status == "resolved" else OPEN,
        starts_at=as_utc(alert.startsAt),
        ends_at=ends if alert.status == "resolved" else None,
        summary=alert.annotations.get("summary"),
        description=alert.annotations.get("description"),
        probable_cause=cause.subject if cause else None,
        probable_cause_kind=cause.kind.value if cause else None,
        labels=dict(labels),
        annotations=dict(alert.annotations),
        generator_url=alert.generatorURL,
        receiver=receiver,
        deliveries=1,
        created_at=now,
        updated_at=now,
        **subject,
    )


def correlate(session: Session, *, now: datetime | None = None, min_sites: int = 2) -> None:
    """Name probable causes of open device incidents and keep ``AreaOutage`` incidents in
    step: opened when two or more sites behind one link are down, resolved when not."""
    now = as_utc(now or utcnow())
    open_rows = list(session.scalars(select(Incident).where(Incident.status == OPEN)))
    device_rows = [i for i in open_rows if i.alertname in DEVICE_OUTAGE_ALERTS and i.device_id]
    link_down = {i.link_id for i in open_rows if i.alertname == "FibreLinkDown" and i.link_id}
    power_sites = {i.site_id for i in open_rows if i.alertname == "UPSOnBattery" and i.site_id}
    topo = Topology.load(session)
    down_devices = {i.device_id for i in device_rows if i.device_id}
    areas = area_outages(topo, down_devices, min_sites=min_sites)
    area_of_site = {site: link for link, sites in areas.items() for site in sites}
    for inc in device_rows:
        assert inc.device_id is not None
        cause = device_cause(
            topo, inc.device_id, down_links=link_down,
            down_devices=down_devices - {inc.device_id}, on_battery_sites=power_sites,
        )
        if cause.kind == CauseKind.DEVICE and inc.site_id in area_of_site:
            cause = Cause(CauseKind.LINK, area_of_site[inc.site_id])
        if (inc.probable_cause, inc.probable_cause_kind) != (cause.subject, cause.kind.value):
            inc.probable_cause, inc.probable_cause_kind = cause.subject, cause.kind.value
            inc.updated_at = now
    open_areas = {i.link_id: i for i in open_rows if i.alertname == AREA_ALERT}
    for link_id, sites in areas.items():
        if link_id in open_areas or link_id in link_down:
            continue
        starts = min(as_utc(i.starts_at) for i in device_rows if i.site_id in sites)
        session.add(_area_incident(session, link_id, sites, starts=starts, now=now))
    for area_link, inc in open_areas.items():
        if area_link not in areas or area_link in link_down:
            inc.status, inc.ends_at, inc.updated_at = RESOLVED, now, now
    session.flush()


def _area_incident(
    session: Session, link_id: str | None, sites: set[str], *, starts: datetime, now: datetime
) -> Incident:
    link = session.get(Link, link_id) if link_id else None
    site = session.get(Site, link.uplink_of) if link and link.uplink_of else None
    names = ", ".join(sorted(sites))
    return Incident(
        fingerprint=f"area:{link_id}",
        alertname=AREA_ALERT,
        severity="critical",
        status=OPEN,
        starts_at=starts,
        device_id=link.z_device if link else None,
        link_id=link_id,
        site_id=site.id if site else None,
        village_code=site.village_code if site else None,
        district_code=site.district_code if site else None,
        summary=f"{len(sites)} sites behind {link_id} are down: probable cause {link_id}",
        description=f"Sites down together behind upstream link {link_id}: {names}.",
        probable_cause=link_id,
        probable_cause_kind=CauseKind.LINK.value,
        labels={"alertname": AREA_ALERT, "link": link_id or "", "severity": "critical"},
        annotations={
            "summary_id": f"{len(sites)} lokasi di belakang {link_id} mati: "
            f"kemungkinan penyebab {link_id}",
        },
        receiver="kentongan",
        deliveries=1,
        created_at=now,
        updated_at=now,
    )


def list_incidents(
    session: Session,
    *,
    status: str | None = None,
    district: str | None = None,
    village: str | None = None,
    site: str | None = None,
    device: str | None = None,
    severity: str | None = None,
    alertname: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> Sequence[Incident]:
    """Incidents matching every given filter, newest first."""
    query = select(Incident)
    for column, value in (
        (Incident.status, status),
        (Incident.district_code, district),
        (Incident.village_code, village),
        (Incident.site_id, site),
        (Incident.device_id, device),
        (Incident.severity, severity),
        (Incident.alertname, alertname),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Incident.starts_at >= as_utc(since))
    return session.scalars(
        query.order_by(Incident.starts_at.desc(), Incident.id.desc()).limit(limit)
    ).all()
