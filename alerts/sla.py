"""The monthly SLA report per village, district and cohort, each outage attributed to a
cause: the upstream link, power (the site's UPS on battery at or before the outage), or the
site's own device.

Months are calendar months in WIB. Availability comes from the embedded store or, with
``KENTONGAN_PROMETHEUS_URL``, from Prometheus (:func:`collectors.promquery.availability_source`);
maintenance windows and time behind someone else's fault are left out of it. Outages come
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

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Incident
from alerts.rootcause import CauseKind
from collectors.models import StateTransition
from collectors.store import AvailabilityResult
from core.csvcells import SafeDictWriter
from core.errors import KentonganError
from core.timeutil import WIB, as_utc, utcnow
from inventory.choices import SERVICE_POINT_KINDS
from inventory.maintenance import maintenance_intervals
from inventory.models import Link, MaintenanceWindow, Region, Site
from inventory.topology import Topology

logger = logging.getLogger(__name__)

OUTAGE_STATES = frozenset({"down", "unreachable"})
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
            days=31), end) if st == "down"]
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
            for link_id in reversed(upstream):  # the cut nearest the NOC explains the rest
                if any(s <= lo + timedelta(seconds=5) and (e is None or e > lo)
                       for s, e, _ in link_down.get(link_id, ())):
                    kind, subject = CauseKind.LINK, link_id
                    break
            else:
                if status == "unreachable":
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


def _cohorts(policy_path: object) -> list[object]:
    try:
        from api.readiness.policy import load_policy
    except ImportError:
        return []
    try:
        return list(load_policy(policy_path).cohorts)  # type: ignore[arg-type]
    except Exception:
        logger.exception("cannot load the readiness policy for cohorts")
        return []


def _in_cohort(cohort: object, village: _Village) -> bool:
    sel = cohort.selector  # type: ignore[attr-defined]
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
    source: str = "store",
    policy_path: object = None,
    now: datetime | None = None,
) -> SlaReport:
    """Build the report of ``month`` (``YYYY-MM``, WIB), optionally for one district,
    village or cohort.

    Raises:
        ReportError: for a bad month or an unknown cohort.
    """
    start, end = month_bounds(month)
    now = as_utc(now or utcnow())
    if availability_fn is None:
        from collectors.store import availability

        availability_fn = availability
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
    query = select(Site.id, Site.kind, Site.village_code, Site.district_code).where(
        Site.kind.in_([k.value for k in SERVICE_POINT_KINDS]), Site.status != "decommissioned")
    if district:
        query = query.where(Site.district_code == district)
    if village:
        query = query.where(Site.village_code == village)
    for sid, kind, vcode, dcode in session.execute(query.order_by(Site.village_code, Site.id)):
        v = villages.setdefault(vcode, _Village(vcode, names.get(vcode, vcode), dcode))
        v.sites.append(sid)
        v.kinds.add(kind)
        if sid in media:
            v.media.add(media[sid])
    cohorts = _cohorts(policy_path)
    if cohort is not None:
        cohorts = [c for c in cohorts if c.id == cohort]  # type: ignore[attr-defined]
        if not cohorts:
            raise ReportError(f"unknown cohort {cohort!r}", field="cohort")
        villages = {k: v for k, v in villages.items() if _in_cohort(cohorts[0], v)}
    windows = list(session.scalars(select(MaintenanceWindow)))
    report = SlaReport(month=month, start=start, end=end, source=source)
    village_avail: dict[str, AvailabilityResult] = {}
    village_outages: dict[str, list[Outage]] = {}
    for code, v in villages.items():
        avail = AvailabilityResult(percent=None)
        outages: list[Outage] = []
        for sid in v.sites:
            avail.add(availability_fn(session, kind="site", subject=sid, start=start, end=end))
            outages += site_outages(session, topo, sid, start=start, end=end,
                                    windows=windows, now=now)
        village_avail[code], village_outages[code] = avail, outages
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
    for c in cohorts:
        members = [code for code, v in villages.items() if _in_cohort(c, v)]
        avail = AvailabilityResult(percent=None)
        for code in members:
            avail.add(village_avail[code])
        report.cohorts.append(_row(
            "cohort", c.id, c.name, avail,  # type: ignore[attr-defined]
            (o for code in members for o in village_outages[code]), villages=len(members)))
    report.outages.sort(key=lambda o: (o.start, o.site_id))
    return report


def to_csv(report: SlaReport) -> str:
    """One CSV row per village, district and cohort."""
    buffer = io.StringIO()
    writer = SafeDictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report.rows():
        writer.writerow(row.model_dump(include=set(CSV_FIELDS)))
    return buffer.getvalue()
