"""The monthly SLA report per village, district and cohort, each outage attributed to a
cause: the upstream link, power (the site's UPS on battery at or before the outage), or the
site's own device.

Months are calendar months in WIB. A village's availability is its uplink's, by the one
definition (:func:`collectors.store.village_uplink_availability`: seconds up / seconds
observed; maintenance and time behind an upstream fault left out), from the embedded store
or, with ``KENTONGAN_PROMETHEUS_URL``, from Prometheus
(:func:`collectors.promquery.availability_many_source`). Outages come
from the state transitions of each village site's gateway (the device where its uplink
lands, else every device of the site); an outage entirely inside a maintenance window is
not listed.
"""

from __future__ import annotations

import io
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Incident
from alerts.rootcause import CauseKind
from collectors.models import StateTransition
from collectors.store import (
    VILLAGE_SITE_KINDS,
    AvailabilityManyFn,
    AvailabilityResult,
    availability_many,
    village_uplink_availability,
)
from core.csvcells import SafeDictWriter
from core.errors import KentonganError
from core.timeutil import WIB, as_utc, utcnow
from inventory.choices import OUTAGE_STATUSES, SERVICE_POINT_KINDS, DeviceStatus, LinkStatus
from inventory.maintenance import maintenance_intervals
from inventory.models import Link, MaintenanceWindow, Region, Site
from inventory.query import SiteFilter
from inventory.topology import Topology

logger = logging.getLogger(__name__)

OUTAGE_STATES = OUTAGE_STATUSES
_POWER_SLACK = timedelta(minutes=5)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

AvailabilityFn = Callable[..., AvailabilityResult]


class ReportError(KentonganError, ValueError):
    """A report request that cannot be served (bad month, unknown cohort…)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class Outage(BaseModel):
    """One outage of a site, with its probable cause."""

    site_id: str
    device_id: str
    start: datetime
    end: datetime | None
    seconds: float
    cause: CauseKind
    cause_subject: str


class SlaRow(BaseModel):
    """Availability and outage time by cause of one village, district or cohort."""

    scope: str
    id: str
    name: str
    district_code: str | None = None
    availability_percent: float | None
    up_s: float
    down_s: float
    maintenance_s: float
    unreachable_s: float
    outages: int
    link_outage_s: float
    power_outage_s: float
    device_outage_s: float
    villages: int = 1


class SlaReport(BaseModel):
    """The report of one month."""

    month: str
    start: datetime
    end: datetime
    source: str
    villages: list[SlaRow] = Field(default_factory=list)
    districts: list[SlaRow] = Field(default_factory=list)
    cohorts: list[SlaRow] = Field(default_factory=list)
    outages: list[Outage] = Field(default_factory=list)

    def rows(self) -> list[SlaRow]:
        """Every row: villages, then districts, then cohorts."""
        return [*self.villages, *self.districts, *self.cohorts]


CSV_FIELDS = (
    "scope", "id", "name", "district_code", "availability_percent", "up_s", "down_s",
    "maintenance_s", "unreachable_s", "outages", "link_outage_s", "power_outage_s",
    "device_outage_s", "villages",
)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` → the month's first and next month's first instant in WIB, as UTC."""
    match = _MONTH.match(month or "")
    if not match:
        raise ReportError(f"expected YYYY-MM, got {month!r}", field="month")
    year, mon = int(match.group(1)), int(match.group(2))
    if not 1970 <= year <= 9998:
        raise ReportError(f"year {year} is out of range (1970-9998)", field="month")
    start = datetime(year, mon, 1, tzinfo=WIB)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=WIB)
    return as_utc(start), as_utc(end)


@dataclass(slots=True)
class _Village:
    code: str
    name: str
    district: str
    sites: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    media: set[str] = field(default_factory=set)


def _timeline(
    rows: Sequence[tuple[str, str, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime | None, str]]:
    """Outage intervals ``(from, to or None if ongoing, status)`` clipped to the window."""
    out: list[tuple[datetime, datetime | None, str]] = []
    current: str | None = None
    since: datetime | None = None
    for _from, to_status, at in rows:
        at = as_utc(at)
        if current in OUTAGE_STATES and since is not None and at > start:
            out.append((max(since, start), min(at, end), current))
        current, since = to_status, at
        if at >= end:
            break
    if current in OUTAGE_STATES and since is not None and since < end:
        out.append((max(since, start), None, current))
    return [(s, e, st) for s, e, st in out if e is None or e > s]


def _covered(start: datetime, end: datetime, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(lo <= start and end <= hi for lo, hi in spans)


def site_outages(
    session: Session,
    topo: Topology,
    site_id: str,
    *,
    start: datetime,
    end: datetime,
    windows: Sequence[MaintenanceWindow],
    now: datetime,
) -> list[Outage]:
    """The outages of one site within ``[start, end)``, each with its cause."""
    gateway = topo.gateway(site_id)
    devices = [gateway] if gateway else sorted(
        d for d, s in topo.device_site.items() if s == site_id
    )
    upstream = topo.upstream_links(site_id)
    power = [
        (as_utc(i.starts_at), as_utc(i.ends_at) if i.ends_at else now)
        for i in session.scalars(select(Incident).where(
            Incident.alertname == "UPSOnBattery", Incident.site_id == site_id))
    ]
    link_rows = session.execute(
        select(StateTransition.subject, StateTransition.to_status, StateTransition.at)
        .where(StateTransition.kind == "link", StateTransition.subject.in_(upstream),
               StateTransition.at < end)
        .order_by(StateTransition.at, StateTransition.id)
    ).all() if upstream else []
    link_down: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    by_link: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for subject, to_status, at in link_rows:
        by_link[subject].append(("", to_status, at))
    for link_id, rows in by_link.items():
        link_down[link_id] = [(s, e, st) for s, e, st in _timeline(rows, start - timedelta(
            days=31), end) if st == LinkStatus.DOWN]
    site = session.get(Site, site_id)
    spans = maintenance_intervals(
        windows, start, end, site_id=site_id,
        district_code=site.district_code if site else None,
    )
    outages: list[Outage] = []
    for device_id in devices:
        rows = [
            (str(r[0]), str(r[1]), r[2])
            for r in session.execute(
                select(StateTransition.from_status, StateTransition.to_status,
                       StateTransition.at)
                .where(StateTransition.kind == "device", StateTransition.subject == device_id,
                       StateTransition.at < end)
                .order_by(StateTransition.at, StateTransition.id)
            )
        ]
        device_spans = spans + maintenance_intervals(windows, start, end, device_id=device_id)
        for lo, hi, status in _timeline(rows, start, end):
            stop = hi or min(end, now)
            if _covered(lo, stop, device_spans):
                continue
            kind, subject = CauseKind.DEVICE, device_id
            # The site's own uplink reads "down" when its far end (this gateway) is down: not
            # a cause. A cut of it shows as this device "unreachable" (handled below).
            own = topo.site_uplink.get(site_id)
            for link_id in reversed([lk for lk in upstream if lk != own]):
                # the cut nearest the NOC explains the rest
                if any(s <= lo + timedelta(seconds=5) and (e is None or e > lo)
                       for s, e, _ in link_down.get(link_id, ())):
                    kind, subject = CauseKind.LINK, link_id
                    break
            else:
                if status == DeviceStatus.UNREACHABLE:
                    kind, subject = CauseKind.LINK, upstream[0] if upstream else device_id
                elif any(s <= lo + _POWER_SLACK and e >= lo - _POWER_SLACK for s, e in power):
                    kind, subject = CauseKind.POWER, site_id
            outages.append(Outage(
                site_id=site_id, device_id=device_id, start=lo, end=hi,
                seconds=max(0.0, (stop - lo).total_seconds()), cause=kind, cause_subject=subject,
            ))
    return outages


def _row(scope: str, ident: str, name: str, avail: AvailabilityResult,
         outages: Iterable[Outage], *, district: str | None = None, villages: int = 1) -> SlaRow:
    by_cause: dict[CauseKind, float] = defaultdict(float)
    count = 0
    for outage in outages:
        by_cause[outage.cause] += outage.seconds
        count += 1
    return SlaRow(
        scope=scope, id=ident, name=name, district_code=district,
        availability_percent=None if avail.percent is None else round(avail.percent, 4),
        up_s=round(avail.up_s, 3), down_s=round(avail.down_s, 3),
        maintenance_s=round(avail.maintenance_s, 3),
        unreachable_s=round(avail.unreachable_s, 3), outages=count,
        link_outage_s=round(by_cause[CauseKind.LINK], 3),
        power_outage_s=round(by_cause[CauseKind.POWER], 3),
        device_outage_s=round(by_cause[CauseKind.DEVICE], 3), villages=villages,
    )


class CohortSelectorLike(Protocol):
    """Which villages belong to a cohort (every given condition must hold)."""

    @property
    def uplink_medium(self) -> str | None: ...
    @property
    def districts(self) -> Sequence[str] | None: ...
    @property
    def villages(self) -> Sequence[str] | None: ...
    @property
    def site_kinds(self) -> Sequence[str] | None: ...


def _per_subject(fn: AvailabilityFn) -> AvailabilityManyFn:
    """A one-subject availability function used for many subjects."""

    def many(session: Session, *, kind: str, subjects: Iterable[str] | None,
             start: datetime, end: datetime, **_: object) -> dict[str, AvailabilityResult]:
        return {s: fn(session, kind=kind, subject=s, start=start, end=end)
                for s in subjects or ()}

    return many


class CohortLike(Protocol):
    """A programme cohort as the report needs it (the readiness policy's ``Cohort`` is one;
    the caller in ``api/`` loads them and passes them in)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def selector(self) -> CohortSelectorLike: ...


def _in_cohort(cohort: CohortLike, village: _Village) -> bool:
    sel = cohort.selector
    if sel.uplink_medium is not None and sel.uplink_medium not in village.media:
        return False
    if sel.districts is not None and village.district not in sel.districts:
        return False
    if sel.villages is not None and village.code not in sel.villages:
        return False
    return not (sel.site_kinds is not None and not (village.kinds & set(sel.site_kinds)))


def sla_report(
    session: Session,
    *,
    month: str,
    district: str | None = None,
    village: str | None = None,
    cohort: str | None = None,
    availability_fn: AvailabilityFn | None = None,
    availability_many_fn: AvailabilityManyFn | None = None,
    source: str = "store",
    cohorts: Sequence[CohortLike] = (),
    village_site_kinds: Sequence[str] = VILLAGE_SITE_KINDS,
    now: datetime | None = None,
) -> SlaReport:
    """Build the report of ``month`` (``YYYY-MM``, WIB), optionally for one district,
    village or cohort; ``cohorts`` are the programme's cohorts (from the readiness policy,
    loaded by the caller), each reported as a row.

    A village's availability is its uplink's, by the one definition
    (:func:`collectors.store.village_uplink_availability`), from ``availability_many_fn``
    (:func:`collectors.promquery.availability_many_source`; default: the store) or, given
    only ``availability_fn``, from that one subject at a time. Districts and cohorts sum
    their villages' seconds. Under a district or village filter, cohort rows count only
    the villages inside it and say so in their names.

    Raises:
        ReportError: for a bad month or an unknown cohort.
    """
    start, end = month_bounds(month)
    now = as_utc(now or utcnow())
    if availability_many_fn is None:
        availability_many_fn = (
            _per_subject(availability_fn) if availability_fn is not None else availability_many
        )
    topo = Topology.load(session)
    names: dict[str, str] = {
        code: name for code, name in session.execute(select(Region.code, Region.name))
    }
    media: dict[str, str] = {
        site: medium
        for site, medium in session.execute(
            select(Link.uplink_of, Link.medium).where(Link.uplink_of.is_not(None)))
        if site is not None
    }
    villages: dict[str, _Village] = {}
    service_points = SiteFilter(district=district, village=village, kinds=SERVICE_POINT_KINDS,
                                active_only=True)
    query = service_points.apply(select(Site.id, Site.kind, Site.village_code, Site.district_code))
    for sid, kind, vcode, dcode in session.execute(query.order_by(Site.village_code, Site.id)):
        v = villages.setdefault(vcode, _Village(vcode, names.get(vcode, vcode), dcode))
        v.sites.append(sid)
        v.kinds.add(kind)
        if sid in media:
            v.media.add(media[sid])
    cohorts = list(cohorts)
    site_kinds = [str(k) for k in village_site_kinds]
    if cohort is not None:
        cohorts = [c for c in cohorts if c.id == cohort]
        if not cohorts:
            raise ReportError(f"unknown cohort {cohort!r}", field="cohort")
        villages = {k: v for k, v in villages.items() if _in_cohort(cohorts[0], v)}
    windows = list(session.scalars(select(MaintenanceWindow)))
    report = SlaReport(month=month, start=start, end=end, source=source)
    village_avail = village_uplink_availability(
        session, start=start, end=end, villages=list(villages), site_kinds=site_kinds,
        many=availability_many_fn, now=now,
    )
    village_outages: dict[str, list[Outage]] = {}
    for code, v in villages.items():
        avail = village_avail.setdefault(code, AvailabilityResult(percent=None))
        outages: list[Outage] = []
        for sid in v.sites:
            outages += site_outages(session, topo, sid, start=start, end=end,
                                    windows=windows, now=now)
        village_outages[code] = outages
        report.outages += outages
        report.villages.append(_row("village", code, v.name, avail, outages, district=v.district))
    by_district: dict[str, list[str]] = defaultdict(list)
    for code, v in villages.items():
        by_district[v.district].append(code)
    for dcode, members in sorted(by_district.items()):
        avail = AvailabilityResult(percent=None)
        for code in members:
            avail.add(village_avail[code])
        report.districts.append(_row(
            "district", dcode, names.get(dcode, dcode), avail,
            (o for code in members for o in village_outages[code]),
            district=dcode, villages=len(members)))
    scope = names.get(village or "", village) if village else (
        names.get(district, district) if district else None)
    for c in cohorts:
        members = [code for code, v in villages.items() if _in_cohort(c, v)]
        if scope is not None and not members:
            continue
        avail = AvailabilityResult(percent=None)
        for code in members:
            avail.add(village_avail[code])
        name = str(c.name)
        report.cohorts.append(_row(
            "cohort", c.id, f"{name} · {scope}" if scope else name,
            avail, (o for code in members for o in village_outages[code]),
            district=district, villages=len(members)))
    report.outages.sort(key=lambda o: (o.start, o.site_id))
    return report


_UNITS = {
    "id": (("hari", 86400), ("jam", 3600), ("menit", 60), ("detik", 1)),
    "en": (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)),
}


def format_duration(seconds: float, lang: str = "id") -> str:
    """A duration people read right: the two largest units, largest first, in Bahasa
    Indonesia (``1 jam 5 menit``) or English (``1 h 5 min``); ``–`` for none."""
    units = _UNITS.get(lang, _UNITS["id"])
    rest = round(seconds)
    if rest <= 0:
        return "–"
    parts: list[str] = []
    for name, size in units:
        if rest >= size or (parts and len(parts) < 2):
            value, rest = divmod(rest, size)
            parts.append(f"{value} {name}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def to_csv(report: SlaReport) -> str:
    """One CSV row per village, district and cohort."""
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report.rows():
        writer.writerow(row.model_dump(include=set(CSV_FIELDS)))
    return buffer.getvalue()
