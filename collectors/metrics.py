"""The one custom collector behind ``/metrics``: families built per scrape from the
observation store (``device_states``, ``interface_states``, ``link_states``) and the inventory.

Nothing is kept between scrapes: every call of :meth:`StoreCollector.families` reads the
tables with plain SQL (rows, not ORM objects) and builds fresh :class:`Family` values. Each
device's label text is escaped once per scrape and shared by all of its series.

Labels on every device series: ``device``, ``role``, ``site``, ``village_code``,
``district_code``, ``uplink`` (the link feeding the site) and ``upstream_1`` … ``upstream_N``
(the fibre path from the NOC, ``upstream_1`` nearest the NOC). Alertmanager's inhibit rules
use ``upstream_N`` with ``equal`` so that a down link silences everything behind it. Names
go on ``kentongan_device_info`` and ``kentongan_site_info`` only.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from collectors.exposition import Family, LabelSet, render_text, to_metric
from collectors.store.policy import StorePolicy, is_fresh
from core.timeutil import as_utc, utcnow
from inventory.maintenance import in_maintenance
from inventory.models import Device, MaintenanceWindow, Region, Site
from inventory.topology import Node, Topology

logger = logging.getLogger(__name__)

DEVICE_LABELS = ("device", "role", "site", "village_code", "district_code")
UPSTREAM_PREFIX = "upstream_"

PollerStats = Callable[[], Mapping[str, float] | None]
ExtraFamilies = Callable[[Engine], Iterable[Family]]


@dataclass(frozen=True, slots=True)
class Paths:
    """The fibre paths of the inventory: per device and per link, NOC first."""

    device: dict[str, tuple[str, ...]]
    link: dict[str, tuple[str, ...]]


def fibre_paths(topo: Topology) -> Paths:
    """Upstream link paths (NOC first) of every device and link of ``topo``.

    A link's path ends with the link itself, so ``upstream_<len(path)>`` of a link equals
    the same label on every device behind it.
    """
    devices = {
        did: tuple(reversed(topo.device_upstream_links(did))) for did in topo.device_site
    }
    links: dict[str, tuple[str, ...]] = {}
    for lid in topo.link_ends:
        above = [n.id for n in topo.upstream(Node("link", lid)) if n.kind == "link"]
        links[lid] = (*reversed(above), lid)
    return Paths(device=devices, link=links)


def upstream_labels(path: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``("fo-a", "fo-b")`` → names ``(upstream_1, upstream_2)`` and the values."""
    return tuple(f"{UPSTREAM_PREFIX}{i}" for i in range(1, len(path) + 1)), path


def _epoch(value: datetime | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value).timestamp()


def _flag(value: object) -> int | None:
    if value is None:
        return None
    return 1 if value else 0


class StoreCollector:
    """A prometheus_client collector over the observation store.

    Args:
        engine: the database holding the inventory and the observation store.
        stale_after_seconds: a device whose last poll is older than this has no
            ``kentongan_device_up`` sample (unknown is not down; PollerStalled covers it).
            When None: ``stale_after_intervals`` times the device's own poll interval
            (``default_interval_seconds`` when the store has none).
        poller_stats: returns the scheduler's own health (``cycle_duration_seconds``,
            ``lag_seconds``, ``timeouts_total``, ``last_cycle_timestamp_seconds``), or None
            when no scheduler runs in this process (then the store's figures are used).
        extra: more families to append (e.g. readiness's ``kentongan_village_qualified``).
        clock: the current time (tests inject theirs).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        stale_after_seconds: float | None = None,
        stale_after_intervals: float = 3.0,
        default_interval_seconds: float = 60.0,
        poller_stats: PollerStats | None = None,
        extra: Iterable[ExtraFamilies] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._stale_after = stale_after_seconds
        self._stale_intervals = stale_after_intervals
        self._default_interval = default_interval_seconds
        self._policy = StorePolicy(stale_after_intervals=stale_after_intervals,
                                   default_interval_seconds=default_interval_seconds)
        self._poller_stats = poller_stats
        self._extra = tuple(extra)
        self._clock = clock

    def describe(self) -> list[Metric]:
        """Nothing: families are only known at scrape time (no registry-time collect)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """prometheus_client's collector interface: the families of one scrape."""
        for fam in self.families():
            yield to_metric(fam)

    def render(self) -> bytes:
        """The families of one scrape in text format 0.0.4 (the fast path of ``/metrics``).

        The cyclic garbage collector is paused meanwhile: a scrape allocates ~10 tuples per
        series and creates no cycles, and at 100k series the collector's passes over the
        growing heap cost a third of the scrape.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return render_text(self.families())
        finally:
            if was_enabled:
                gc.enable()

    def families(self) -> list[Family]:
        """Read the store once and build every family."""
        now = as_utc(self._clock())
        with self._engine.connect() as conn:
            session = Session(bind=conn)
            topo = Topology.load(session)
            paths = fibre_paths(topo)
            region_names: dict[str, str] = {
                code: name
                for code, name in conn.execute(
                    select(Region.code, Region.name).where(
                        Region.level.in_(("kecamatan", "desa", "kelurahan"))
                    )
                )
            }
            sites = conn.execute(
                select(Site.id, Site.name, Site.kind, Site.village_code, Site.district_code)
            ).all()
            devices = conn.execute(
                select(Device.id, Device.site_id, Device.role, Device.vendor, Device.model)
                .where(Device.enabled.is_(True))
                .order_by(Device.id)
            ).all()
            windows = list(session.scalars(select(MaintenanceWindow)))
            cursor = conn.connection.cursor()  # plain DBAPI tuples: no Row objects per row
            try:
                cursor.execute(
                    "SELECT device_id, status, last_poll_at, poll_duration_seconds,"
                    " polls_total, errors_total, timeouts_total, ups_on_battery,"
                    " ups_charge_percent, ups_minutes_remaining, kiosk_app_version,"
                    " kiosk_app_active, kiosk_disk_free_bytes, kiosk_disk_total_bytes,"
                    " poll_interval_seconds, sys_name, COALESCE(checked_at, last_poll_at)"
                    " FROM device_states"
                )
                states = {row[0]: row for row in cursor.fetchall()}
                cursor.execute(
                    "SELECT device_id, if_index, name, admin_up, oper_up, speed_mbps,"
                    " in_octets_total, out_octets_total, in_errors_total, out_errors_total,"
                    " in_discards_total, out_discards_total FROM interface_states"
                    " ORDER BY device_id, if_index"
                )
                interfaces = cursor.fetchall()
            finally:
                cursor.close()
            link_rows = conn.execute(
                text(
                    "SELECT l.id, l.medium, l.capacity_bps, l.uplink_of, s.status,"
                    " l.a_device, l.a_interface, l.z_device, l.z_interface, s.checked_at"
                    " FROM links l LEFT JOIN link_states s ON s.link_id = l.id ORDER BY l.id"
                )
            ).all()
            session.close()
        fams = self._build(
            now=now,
            topo=topo,
            paths=paths,
            region_names=region_names,
            sites=sites,
            devices=devices,
            windows=windows,
            states=states,
            interfaces=interfaces,
            link_rows=link_rows,
        )
        for source in self._extra:
            try:
                fams.extend(source(self._engine))
            except Exception:
                logger.exception("metrics source %r failed", source)
        return fams

    def _build(
        self,
        *,
        now: datetime,
        topo: Topology,
        paths: Paths,
        region_names: Mapping[str, str],
        sites: Sequence[Any],
        devices: Sequence[Any],
        windows: list[MaintenanceWindow],
        states: Mapping[str, Any],
        interfaces: Sequence[Any],
        link_rows: Sequence[Any],
    ) -> list[Family]:
        site_info = Family("kentongan_site", "info", "A site of the inventory, with its names.")
        device_info = Family("kentongan_device", "info", "A device of the inventory.")
        up = Family(
            "kentongan_device_up",
            "gauge",
            "1 when the device answers its polls, 0 when down or unreachable behind a fault.",
        )
        unreachable = Family(
            "kentongan_device_unreachable",
            "gauge",
            "1 when the device is unreachable behind a fault upstream (not its own downtime).",
        )
        last_poll = Family(
            "kentongan_device_last_poll_timestamp_seconds",
            "gauge",
            "When the device was last polled (Unix time).",
        )
        duration = Family(
            "kentongan_device_poll_duration_seconds", "gauge", "How long the last poll took."
        )
        polls = Family("kentongan_device_polls", "counter", "Polls of the device.")
        errors = Family("kentongan_device_poll_errors", "counter", "Failed polls of the device.")
        maint = Family(
            "kentongan_maintenance",
            "gauge",
            "1 while the device (or its site or district) is in a maintenance window.",
        )
        on_battery = Family(
            "kentongan_ups_on_battery", "gauge", "1 when the UPS runs on battery (mains lost)."
        )
        charge = Family(
            "kentongan_ups_battery_charge_ratio", "gauge", "UPS battery charge (0 to 1)."
        )
        runtime = Family(
            "kentongan_ups_battery_runtime_seconds", "gauge", "UPS estimated runtime on battery."
        )
        app_info = Family("kentongan_kiosk_app", "info", "The kiosk application's version.")
        app_up = Family(
            "kentongan_kiosk_app_up", "gauge", "1 when the kiosk application is running."
        )
        disk_free = Family(
            "kentongan_kiosk_disk_free_bytes", "gauge", "Free bytes on the kiosk's data disk."
        )
        disk_size = Family(
            "kentongan_kiosk_disk_size_bytes", "gauge", "Size of the kiosk's data disk in bytes."
        )
        if_oper = Family(
            "kentongan_interface_oper_status", "gauge", "1 when the interface is operationally up."
        )
        if_admin = Family(
            "kentongan_interface_admin_status", "gauge", "1 when the interface is enabled."
        )
        if_speed = Family(
            "kentongan_interface_speed_bps", "gauge", "Interface speed in bits per second."
        )
        counters = [
            Family(f"kentongan_interface_{n}", "counter", h)
            for n, h in (
                ("in_octets", "Octets received."),
                ("out_octets", "Octets sent."),
                ("in_errors", "Inbound packets with errors."),
                ("out_errors", "Outbound packets with errors."),
                ("in_discards", "Inbound packets discarded."),
                ("out_discards", "Outbound packets discarded."),
            )
        ]
        link_up = Family("kentongan_link_up", "gauge", "1 when the link is up, 0 when down.")
        link_capacity = Family(
            "kentongan_link_capacity_bps", "gauge", "Contracted capacity of the link (bits/s)."
        )
        link_info = Family(
            "kentongan_link", "info",
            "A link of the inventory with its place in the fibre tree (joins probe series).",
        )

        site_meta = {row[0]: row for row in sites}
        for sid, name, kind, village, district in sites:
            site_info.add(
                LabelSet(
                    ("site", "site_name", "kind", "village_code", "village_name",
                     "district_code", "district_name"),
                    (sid, name, kind, village, region_names.get(village, ""), district,
                     region_names.get(district, "")),
                ),
                1,
            )

        windows_seq = windows
        base_of: dict[str, LabelSet] = {}
        for did, site_id, role, vendor, model in devices:
            meta = site_meta.get(site_id)
            village = meta[3] if meta else ""
            district = meta[4] if meta else ""
            path = paths.device.get(did, ())
            names: tuple[str, ...] = DEVICE_LABELS
            values: tuple[str, ...] = (did, role, site_id, village, district)
            uplink = topo.site_uplink.get(site_id)
            if uplink:
                names += ("uplink",)
                values += (uplink,)
            up_names, up_values = upstream_labels(path)
            base = LabelSet(names + up_names, values + up_values)
            base_of[did] = base
            state = states.get(did)
            sys_name = (state[15] if state else None) or ""
            device_info.add(
                base.extend(("vendor", "model", "sys_name"), (vendor or "", model or "", sys_name)),
                1,
            )
            if windows_seq:
                flag = in_maintenance(
                    windows_seq, now, device_id=did, site_id=site_id, district_code=district
                )
            else:
                flag = False
            maint.add(base, 1 if flag else 0)
            if state is None:
                continue
            (
                _did, status, last_poll_at, poll_duration, polls_total, errors_total,
                _timeouts, ups_batt, ups_charge, ups_minutes, app_version, app_active,
                free_bytes, total_bytes, interval, _sys_name, checked_at,
            ) = state
            last = _epoch(last_poll_at)
            last_poll.add(base, last)
            duration.add(base, poll_duration)
            polls.add(base, polls_total or 0)
            errors.add(base, errors_total or 0)
            if status in ("up", "down", "unreachable") and self._fresh(checked_at, interval, now):
                up.add(base, 1 if status == "up" else 0)
                unreachable.add(base, 1 if status == "unreachable" else 0)
            on_battery.add(base, _flag(ups_batt))
            charge.add(base, None if ups_charge is None else ups_charge / 100.0)
            runtime.add(base, None if ups_minutes is None else ups_minutes * 60.0)
            if app_version is not None:
                app_info.add(base.extend(("version",), (app_version,)), 1)
            app_up.add(base, _flag(app_active))
            disk_free.add(base, free_bytes)
            disk_size.add(base, total_bytes)

        link_of: dict[tuple[str, str], str] = {}
        for lrow in link_rows:
            link_of[(lrow[5], lrow[6])] = lrow[0]
            link_of[(lrow[7], lrow[8])] = lrow[0]
        seen: set[tuple[str, str]] = set()
        admin_add, oper_add, speed_add = (
            if_admin.samples.append, if_oper.samples.append, if_speed.samples.append
        )
        c_in, c_out, e_in, e_out, d_in, d_out = (f.samples.append for f in counters)
        for did, if_index, if_name, admin, oper, speed, *values in interfaces:
            dev_base = base_of.get(did)
            if dev_base is None:
                continue
            name = if_name or f"if{if_index}"
            key = (did, name)
            if key in seen:
                name = f"{name}#{if_index}"
                key = (did, name)
            seen.add(key)
            labels = dev_base.child("interface", name)
            link = link_of.get(key)
            if link is not None:
                labels = labels.child("link", link)
            if admin is not None:
                admin_add((labels, 1 if admin else 0))
            if oper is not None:
                oper_add((labels, 1 if oper else 0))
            if speed is not None:
                speed_add((labels, speed * 1_000_000))
            c_in((labels, int(values[0] or 0)))
            c_out((labels, int(values[1] or 0)))
            e_in((labels, int(values[2] or 0)))
            e_out((labels, int(values[3] or 0)))
            d_in((labels, int(values[4] or 0)))
            d_out((labels, int(values[5] or 0)))

        interval_of = {did: st[14] for did, st in states.items()}
        for lid, medium, capacity, uplink_of, status, a_dev, _ai, z_dev, _zi, checked in link_rows:
            path = paths.link.get(lid, (lid,))
            meta = site_meta.get(uplink_of) if uplink_of else None
            names = ("link", "medium", "link_depth")
            values = (lid, medium, str(len(path)))
            if meta:
                names += ("site", "village_code", "district_code")
                values += (meta[0], meta[3], meta[4])
            up_names, up_values = upstream_labels(path)
            labels = LabelSet(names + up_names, values + up_values)
            ends = [i for i in (interval_of.get(a_dev), interval_of.get(z_dev)) if i]
            if status in ("up", "down") and self._fresh(checked, max(ends, default=None), now):
                link_up.add(labels, 1 if status == "up" else 0)
            link_capacity.add(labels, capacity)
            link_info.add(labels, 1)

        health = self._health(states, now)
        return [
            site_info, device_info, up, unreachable, last_poll, duration, polls, errors, maint,
            if_oper, if_admin, if_speed, *counters, link_info, link_up, link_capacity,
            on_battery, charge, runtime, app_info, app_up, disk_free, disk_size, *health,
        ]

    def _fresh(self, checked_at: datetime | str | None, interval: float | None,
               now: datetime) -> bool:
        """The store's freshness rule (:func:`collectors.store.is_fresh`) on a raw column
        (SQLite hands back ISO text through the DBAPI cursor)."""
        if isinstance(checked_at, str):
            checked_at = datetime.fromisoformat(checked_at)
        return is_fresh(checked_at, now=now, interval_seconds=interval, policy=self._policy,
                        max_age_seconds=self._stale_after)

    def _health(self, states: Mapping[str, tuple], now: datetime) -> list[Family]:  # type: ignore[type-arg]
        stats = dict(self._poller_stats() or {}) if self._poller_stats else {}
        if "last_cycle_timestamp_seconds" not in stats:
            polled = [_epoch(s[2]) for s in states.values() if s[2] is not None]
            if polled:
                stats["last_cycle_timestamp_seconds"] = max(p for p in polled if p is not None)
        if "timeouts_total" not in stats:
            stats["timeouts_total"] = sum(int(s[6] or 0) for s in states.values())
        empty = LabelSet((), ())
        spec = (
            ("kentongan_poller_cycle_duration_seconds", "gauge",
             "How long the last full polling cycle took.", "cycle_duration_seconds"),
            ("kentongan_poller_lag_seconds", "gauge",
             "How far the poller runs behind its schedule.", "lag_seconds"),
            ("kentongan_poller_timeouts", "counter", "Polls that timed out.", "timeouts_total"),
            ("kentongan_poller_last_cycle_timestamp_seconds", "gauge",
             "When the poller last completed a poll (Unix time).",
             "last_cycle_timestamp_seconds"),
        )
        out = []
        for name, kind, doc, key in spec:
            fam = Family(name, kind, doc)
            value = stats.get(key)
            if value is not None:
                fam.add(empty, int(value) if kind == "counter" else float(value))
            out.append(fam)
        return out
