"""Gather the engine's inputs from the database in a handful of set-based queries.

No per-village round trips: one query per kind of fact (regions, sites, links with their
state, kiosks with their state, attestations, incidents, link transitions for
availability), whatever the number of villages. The result is a list of
:class:`~api.readiness.engine.VillageInputs`, one per desa/kelurahan.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from api.readiness.engine import (
    Attestation,
    AvailabilityFact,
    DeviceFact,
    IncidentFact,
    LinkFact,
    VillageInputs,
)
from api.readiness.policy import Policy
from collectors.models import DeviceState, LinkState
from core.timeutil import as_utc
from inventory.choices import VILLAGE_LEVELS, DeviceRole, RegionLevel
from inventory.models import Device, Link, Region, Site, SiteFacility

logger = logging.getLogger(__name__)


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC, cheaply: SQLite hands back naive UTC values, PostgreSQL aware ones."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


_table_cache: dict[tuple[str, str], bool] = {}


def has_table(engine: Engine, name: str) -> bool:
    """Whether ``name`` exists in ``engine``'s database (remembered once true)."""
    key = (engine.url.render_as_string(hide_password=True), name)
    if _table_cache.get(key):
        return True
    found = inspect(engine).has_table(name)
    if found:
        _table_cache[key] = True
    return found


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A district or village name and coordinates."""

    code: str
    name: str
    parent_code: str | None
    lat: float | None
    lon: float | None


@dataclass(slots=True)
class LoadedInputs:
    """What :func:`load_inputs` returns: villages and the districts they belong to."""

    villages: list[VillageInputs]
    districts: dict[str, RegionInfo]
    uplink_medium: dict[str, str]


def uplink_availability(
    session: Session,
    link_ids: Iterable[str],
    *,
    start: datetime,
    end: datetime,
    prometheus_url: str | None = None,
) -> dict[str, AvailabilityFact]:
    """Availability of the uplinks over ``[start, end)`` by the one definition
    (:func:`collectors.store.village_uplink_availability`), from the one source selector
    (:func:`collectors.promquery.availability_many_source`: Prometheus when
    ``prometheus_url`` is set, else the embedded store). A Prometheus that does not answer
    gives no facts (the checks turn unknown), never a guess."""
    from collectors.promquery import PrometheusQueryError, availability_many_source

    wanted = sorted(set(link_ids))
    window = (end - start).total_seconds()
    if not wanted:
        return {}
    source = availability_many_source(prometheus_url)
    try:
        results = source(session, kind="link", subjects=wanted, start=start, end=end, now=end)
    except PrometheusQueryError as exc:
        logger.warning("readiness: Prometheus at %s did not answer: %s", prometheus_url, exc)
        return {}
    return {
        lid: AvailabilityFact(
            percent=r.percent,
            up_s=r.up_s,
            down_s=r.down_s,
            observed_s=r.up_s + r.down_s + r.unreachable_s + r.maintenance_s,
            window_s=window,
        )
        for lid, r in results.items()
        if r.up_s + r.down_s + r.unreachable_s + r.maintenance_s > 0
    }


def load_inputs(
    session: Session, policy: Policy, *, now: datetime, prometheus_url: str | None = None
) -> LoadedInputs:
    """Every village's inputs, read in a fixed number of queries."""
    now = as_utc(now)
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    kinds = [str(k) for k in policy.village_site_kinds]
    kind_rank = {k: i for i, k in enumerate(kinds)}

    districts: dict[str, RegionInfo] = {}
    villages: dict[str, RegionInfo] = {}
    levels = [str(x) for x in VILLAGE_LEVELS] + [str(RegionLevel.KECAMATAN)]
    for code, name, level, parent, lat, lon in session.execute(
        select(
            Region.code, Region.name, Region.level, Region.parent_code, Region.lat, Region.lon
        ).where(Region.level.in_(levels))
    ):
        info = RegionInfo(code, name, parent, lat, lon)
        if level == RegionLevel.KECAMATAN:
            districts[code] = info
        else:
            villages[code] = info

    sites: dict[str, tuple[str, str, str, str, float | None, float | None]] = {}
    village_site: dict[str, str] = {}
    for sid, name, kind, vcode, dcode, lat, lon in session.execute(
        select(
            Site.id, Site.name, Site.kind, Site.village_code, Site.district_code, Site.lat, Site.lon
        )
        .where(Site.kind.in_(kinds), Site.status != "decommissioned")
        .order_by(Site.id)
    ):
        sites[sid] = (name, kind, vcode, dcode, lat, lon)
        current = village_site.get(vcode)
        if current is None or kind_rank[kind] < kind_rank[sites[current][1]]:
            village_site[vcode] = sid
        if vcode not in villages:
            villages[vcode] = RegionInfo(vcode, name, dcode, lat, lon)

    links: dict[str, LinkFact] = {}
    site_uplink: dict[str, str] = {}
    link_a_site: dict[str, str] = {}
    for lid, medium, uplink_of, a_site, status, since, updated, reason, checked in (
        session.execute(
        select(
            Link.id,
            Link.medium,
            Link.uplink_of,
            Device.site_id,
            LinkState.status,
            LinkState.since,
            LinkState.updated_at,
            LinkState.reason,
            LinkState.checked_at,
        )
        .join(Device, Device.id == Link.a_device)
        .outerjoin(LinkState, LinkState.link_id == Link.id)
    )):
        links[lid] = LinkFact(lid, medium, status, _utc(since), _utc(checked), reason,
                              _utc(updated))
        link_a_site[lid] = a_site
        if uplink_of:
            site_uplink[uplink_of] = lid

    kiosks: dict[str, list[DeviceFact]] = defaultdict(list)
    for did, sid, status, last_poll, last_ok, version, reason, checked in session.execute(
        select(
            Device.id,
            Device.site_id,
            DeviceState.status,
            DeviceState.last_poll_at,
            DeviceState.last_ok_at,
            DeviceState.kiosk_app_version,
            DeviceState.reason,
            DeviceState.checked_at,
        )
        .join(Site, Site.id == Device.site_id)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.role == DeviceRole.KIOSK, Device.enabled.is_(True), Site.kind.in_(kinds))
        .order_by(Device.id)
    ):
        kiosks[sid].append(
            DeviceFact(did, "kiosk", status, _utc(last_poll), _utc(last_ok), version, reason,
                       _utc(checked))
        )

    attestations: dict[str, dict[str, Attestation]] = defaultdict(dict)
    for sid, facility, value, by, at, evidence, expires in session.execute(
        select(
            SiteFacility.site_id,
            SiteFacility.facility,
            SiteFacility.value,
            SiteFacility.attested_by,
            SiteFacility.attested_at,
            SiteFacility.evidence,
            SiteFacility.expires_at,
        )
        .join(Site, Site.id == SiteFacility.site_id)
        .where(Site.kind.in_(kinds))
    ):
        attestations[sid][facility] = Attestation(
            facility,
            value,
            by,
            _utc(at),
            evidence,
            _utc(expires),
        )

    incidents: dict[str, list[IncidentFact]] | None = None
    if has_table(engine, "incidents"):
        from alerts.models import Incident

        incidents = defaultdict(list)
        for iid, sid, severity, summary, starts in session.execute(
            select(
                Incident.id,
                Incident.site_id,
                Incident.severity,
                Incident.summary,
                Incident.starts_at,
            )
            .where(
                Incident.status == "open",
                Incident.site_id.is_not(None),
                Incident.severity.in_(policy.incidents.no_open_critical.severities),
            )
            .order_by(Incident.starts_at)
        ):
            incidents[sid].append(IncidentFact(iid, severity, summary, _utc(starts)))

    window = timedelta(days=policy.network.availability.window_days)
    uplinks = {site_uplink[s] for s in village_site.values() if s in site_uplink}
    availability = uplink_availability(
        session, uplinks, start=now - window, end=now, prometheus_url=prometheus_url
    )

    out: list[VillageInputs] = []
    for vcode in sorted(villages):
        region = villages[vcode]
        sid = village_site.get(vcode)
        dcode = region.parent_code or ""
        district = districts.get(dcode)
        if sid is None:
            out.append(
                VillageInputs(
                    village_code=vcode,
                    village_name=region.name,
                    district_code=dcode,
                    district_name=district.name if district else dcode,
                    lat=region.lat,
                    lon=region.lon,
                    incidents=None,
                )
            )
            continue
        name, kind, _v, site_district, lat, lon = sites[sid]
        dcode = region.parent_code or site_district
        district = districts.get(dcode)
        uplink_id = site_uplink.get(sid)
        upstream: list[LinkFact] = []
        if uplink_id is not None:
            seen = {sid}
            a_site = link_a_site.get(uplink_id)
            while a_site is not None and a_site not in seen and a_site in site_uplink:
                seen.add(a_site)
                up_link = site_uplink[a_site]
                upstream.append(links[up_link])
                a_site = link_a_site.get(up_link)
        out.append(
            VillageInputs(
                village_code=vcode,
                village_name=region.name,
                district_code=dcode,
                district_name=district.name if district else dcode,
                site_id=sid,
                site_name=name,
                site_kind=kind,
                uplink=links.get(uplink_id) if uplink_id else None,
                upstream_links=tuple(upstream),
                availability=availability.get(uplink_id) if uplink_id else None,
                kiosks=tuple(kiosks.get(sid, ())),
                attestations=attestations.get(sid, {}),
                incidents=None if incidents is None else tuple(incidents.get(sid, ())),
                lat=lat if lat is not None else region.lat,
                lon=lon if lon is not None else region.lon,
            )
        )
    uplink_medium = {lid: links[lid].medium for lid in uplinks}
    return LoadedInputs(villages=out, districts=districts, uplink_medium=uplink_medium)
