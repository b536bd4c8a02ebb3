"""The observation store: current state, state transitions, availability and flaps.

Writers (the scheduler, ``kentongan poll``) call :func:`record_observations` once per poll
cycle with every observation of that cycle: one batch, one commit by the caller.

Readers (API, readiness, ``/metrics``) call the query functions:

* :func:`device_states` — current state of devices (staleness applied: old data reads
  ``unknown``, never ``up``);
* :func:`link_states` — current state of links;
* :func:`interface_states` — interfaces of one or more devices (monotonic counters);
* :func:`transitions` — persisted state changes;
* :func:`availability` — availability % of a device, link, site, village or district
  over any window, maintenance excluded, ``unreachable`` not counted as downtime.

Rules:

* A device is ``down`` only after ``down_after_failures`` consecutive failed polls; until
  then it keeps its previous state (one lost UDP reply never pages anyone).
* A device whose parent device, or whose site's uplink (its A-end device, or its A-end
  interface), is down is ``unreachable``: a state of its own, not its own downtime. While
  the device in front of a failing device is itself failing (but not yet down), the failing
  device keeps its previous state: devices behind a cut reach N failures at different
  moments, and the one behind must not be called ``down`` first. Failures seen while
  ``unreachable`` do not count: once the fault in front is repaired, a device needs
  ``down_after_failures`` failed polls of its own before it is ``down``.
* A link is ``down`` when its A or Z interface reports oper down, or its far end (Z) is
  down; ``unreachable`` when its A end is down or unreachable; ``up`` when an end
  interface reports up or the far end answers; otherwise ``unknown``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from collectors.base import DeviceStatus, InterfaceSample, Observation
from collectors.models import DeviceState, InterfaceState, LinkState, StateTransition
from core.timeutil import as_utc, utcnow
from inventory.maintenance import maintenance_intervals, merge
from inventory.models import Device, Link, MaintenanceWindow, Site
from inventory.topology import Node, Topology

logger = logging.getLogger(__name__)

UP, DOWN, UNREACHABLE, UNKNOWN = (
    DeviceStatus.UP.value,
    DeviceStatus.DOWN.value,
    DeviceStatus.UNREACHABLE.value,
    DeviceStatus.UNKNOWN.value,
)
_CHUNK = 500
_I64 = 2**63
_COUNTERS = ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards")


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """The rules the store applies (from settings: ``StorePolicy.from_settings``)."""

    down_after_failures: int = 3
    stale_after_intervals: float = 3.0
    default_interval_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Any) -> StorePolicy:
        """Build the policy from a :class:`core.settings.Settings`."""
        return cls(
            down_after_failures=max(1, int(settings.down_after_failures)),
            stale_after_intervals=float(settings.stale_after_intervals),
            default_interval_seconds=float(settings.poll_interval_seconds),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change produced by a write (also persisted as a ``StateTransition``)."""

    kind: str
    subject: str
    from_status: str
    to_status: str
    at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class DeviceStateView:
    """A device's current state as readers see it (staleness already applied)."""

    device_id: str
    status: str
    since: datetime | None
    reason: str | None
    stale: bool
    observed_status: str
    protocol: str | None
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    consecutive_failures: int
    poll_duration_seconds: float | None
    poll_interval_seconds: float | None
    polls_total: int
    errors_total: int
    timeouts_total: int
    sys_name: str | None
    sys_descr: str | None
    sys_uptime_ticks: int | None
    ups_on_battery: bool | None
    ups_charge_percent: float | None
    ups_minutes_remaining: float | None
    kiosk_app_version: str | None
    kiosk_app_active: bool | None
    kiosk_disk_free_bytes: int | None
    kiosk_disk_total_bytes: int | None
    kiosk_uptime_seconds: float | None
    kiosk_last_boot: datetime | None


@dataclass(frozen=True, slots=True)
class LinkStateView:
    """A link's current state."""

    link_id: str
    status: str
    since: datetime | None
    reason: str | None
    a_oper_up: bool | None
    z_oper_up: bool | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class InterfaceStateView:
    """One interface with its monotonic counter totals."""

    device_id: str
    if_index: int
    name: str | None
    alias: str | None
    admin_up: bool | None
    oper_up: bool | None
    speed_mbps: int | None
    in_octets_total: int
    out_octets_total: int
    in_errors_total: int
    out_errors_total: int
    in_discards_total: int
    out_discards_total: int
    updated_at: datetime | None


@dataclass(slots=True)
class AvailabilityResult:
    """Availability of a subject over a window.

    ``percent`` is ``100 * up_s / (up_s + down_s)``: time in maintenance, ``unreachable``
    (behind someone else's fault) and ``unknown`` (no fresh data) are left out of both;
    ``None`` when there is no up or down time at all. ``flaps`` counts up→down changes
    outside maintenance. For a site, village or district the seconds and flaps are summed
    over its devices.
    """

    percent: float | None
    up_s: float = 0.0
    down_s: float = 0.0
    unreachable_s: float = 0.0
    unknown_s: float = 0.0
    maintenance_s: float = 0.0
    flaps: int = 0
    subjects: int = 0

    def add(self, other: AvailabilityResult) -> None:
        """Sum ``other`` into this result (percent is recomputed)."""
        self.up_s += other.up_s
        self.down_s += other.down_s
        self.unreachable_s += other.unreachable_s
        self.unknown_s += other.unknown_s
        self.maintenance_s += other.maintenance_s
        self.flaps += other.flaps
        self.subjects += other.subjects
        self.percent = _percent(self.up_s, self.down_s)


def _percent(up: float, down: float) -> float | None:
    total = up + down
    return None if total <= 0 else round(100.0 * up / total, 6)


# --------------------------------------------------------------------------- counters


TIMETICKS_MODULUS = 1 << 32


def uptime_went_back(
    prev_ticks: int | None, cur_ticks: int | None, *, elapsed_seconds: float | None = None
) -> bool:
    """Whether sysUpTime (hundredths of a second) shows a reboot between two polls.

    TimeTicks wrap after ~497 days: a decrease that matches the elapsed wall-clock time
    (when given) is a wrap, not a reboot.
    """
    if prev_ticks is None or cur_ticks is None or cur_ticks >= prev_ticks:
        return False
    if elapsed_seconds is not None:
        wrapped = (cur_ticks + TIMETICKS_MODULUS - prev_ticks) / 100.0
        if abs(wrapped - elapsed_seconds) <= max(10.0, 0.5 * elapsed_seconds):
            return False
    return True


def counter_delta(
    previous: int | None, current: int | None, *, rebooted: bool = False, bits: int | None = None
) -> int:
    """How much a raw SNMP counter advanced, never negative.

    After a reboot the counter restarted from zero, so the advance is ``current``. A
    smaller reading without a reboot is a wrap: of a 32-bit counter when the previous
    reading fits 32 bits, of a 64-bit counter when the previous reading was in the top
    quarter of its range, otherwise a reset (counted as ``current``). ``bits`` (32 or 64),
    when the collector knows the counter's width, decides between 32- and 64-bit wrap.
    """
    if current is None or previous is None or current < 0:
        return 0
    if rebooted:
        return current
    if current >= previous:
        return current - previous
    if bits == 32:
        return (current - previous) % 2**32
    if previous < 2**32 and bits != 64:
        return current + 2**32 - previous
    if previous >= 2**64 - 2**62:
        return current + 2**64 - previous
    return current


def _to_db(value: int | None) -> int | None:
    """Unsigned 64-bit → signed BIGINT (two's complement) for storage."""
    if value is None:
        return None
    value %= 2**64
    return value - 2**64 if value >= _I64 else value


def _from_db(value: int | None) -> int | None:
    if value is None:
        return None
    return value + 2**64 if value < 0 else value


# --------------------------------------------------------------------------- writing


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _is_timeout(obs: Observation) -> bool:
    return bool(obs.reason) and "timeout" in (obs.reason or "").lower()


def record_observations(
    session: Session,
    observations: Iterable[Observation],
    *,
    policy: StorePolicy | None = None,
    intervals: Mapping[str, float] | None = None,
    now: datetime | None = None,
    recompute: bool = True,
) -> list[Transition]:
    """Fold one poll cycle's observations into the store (no commit: the caller commits).

    Args:
        session: an open session.
        observations: this cycle's results, applied in the order they were taken (a
            device polled twice since the last write counts twice).
        policy: the rules (defaults: 3 failures, 3 intervals, 60 s).
        intervals: each device's poll interval in seconds (for staleness).
        now: the time of the write (tests inject a clock).
        recompute: re-derive effective device and link states afterwards.

    Returns:
        The transitions written (devices and links).
    """
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    ordered = sorted(observations, key=lambda o: o.started_at)
    ids = list(dict.fromkeys(o.device_id for o in ordered))
    existing: dict[str, DeviceState] = {}
    for chunk in _chunks(ids):
        by_id = select(DeviceState).where(DeviceState.device_id.in_(chunk))
        existing.update((r.device_id, r) for r in session.scalars(by_id))
    iface_rows: dict[tuple[str, int], InterfaceState] = {}
    with_ifaces = list(dict.fromkeys(o.device_id for o in ordered if o.interfaces))
    for chunk in _chunks(with_ifaces):
        stmt = select(InterfaceState).where(InterfaceState.device_id.in_(chunk))
        for irow in session.scalars(stmt):
            iface_rows[(irow.device_id, irow.if_index)] = irow

    for obs in ordered:
        device_id = obs.device_id
        row = existing.get(device_id)
        if row is None:
            row = DeviceState(
                device_id=device_id,
                status=UNKNOWN,
                observed_status=UNKNOWN,
                since=now,
                consecutive_failures=0,
                polls_total=0,
                errors_total=0,
                timeouts_total=0,
            )
            session.add(row)
            existing[device_id] = row
        interval = (intervals or {}).get(device_id)
        if interval is not None:
            row.poll_interval_seconds = float(interval)
        elif row.poll_interval_seconds is None:
            row.poll_interval_seconds = policy.default_interval_seconds
        _apply_observation(row, obs, policy=policy, now=now, ifaces=iface_rows, session=session)

    if not recompute:
        return []
    session.flush()
    return recompute_states(session, policy=policy, now=now)


def _apply_observation(
    row: DeviceState,
    obs: Observation,
    *,
    policy: StorePolicy,
    now: datetime,
    ifaces: dict[tuple[str, int], InterfaceState],
    session: Session,
) -> None:
    row.polls_total = (row.polls_total or 0) + 1
    row.last_poll_at = now
    row.protocol = obs.protocol
    row.poll_duration_seconds = obs.duration_seconds
    row.updated_at = now
    if not obs.ok and obs.extra.get("configuration_error"):
        # Our own mistake (missing secret, no profile): we know nothing about the device.
        row.errors_total = (row.errors_total or 0) + 1
        row.consecutive_failures = 0
        row.observed_status = UNKNOWN
        row.reason = obs.reason or "configuration error"
        return
    if not obs.ok:
        row.errors_total = (row.errors_total or 0) + 1
        if _is_timeout(obs):
            row.timeouts_total = (row.timeouts_total or 0) + 1
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        row.reason = obs.reason or "poll failed"
        if row.consecutive_failures >= policy.down_after_failures:
            row.observed_status = DOWN
        return
    elapsed = (now - as_utc(row.last_ok_at)).total_seconds() if row.last_ok_at else None
    rebooted = uptime_went_back(row.sys_uptime_ticks, obs.sys_uptime_ticks,
                                elapsed_seconds=elapsed)
    if (
        obs.kiosk is not None
        and obs.kiosk.uptime_seconds is not None
        and row.kiosk_uptime_seconds is not None
        and obs.kiosk.uptime_seconds < row.kiosk_uptime_seconds
    ):
        rebooted = True
    row.consecutive_failures = 0
    row.last_ok_at = now
    row.observed_status = UP
    row.reason = None
    if obs.sys_uptime_ticks is not None:
        row.sys_uptime_ticks = obs.sys_uptime_ticks
    if obs.sys_name is not None:
        row.sys_name = obs.sys_name
    if obs.sys_descr is not None:
        row.sys_descr = obs.sys_descr
    if obs.ups is not None:
        row.ups_on_battery = obs.ups.on_battery
        row.ups_charge_percent = obs.ups.charge_percent
        row.ups_minutes_remaining = obs.ups.minutes_remaining
    if obs.kiosk is not None:
        k = obs.kiosk
        row.kiosk_app_version = k.app_version
        row.kiosk_app_active = k.app_active
        row.kiosk_disk_free_bytes = k.disk_free_bytes
        row.kiosk_disk_total_bytes = k.disk_total_bytes
        row.kiosk_uptime_seconds = k.uptime_seconds
        row.kiosk_last_boot = k.last_boot
    for sample in obs.interfaces:
        key = (row.device_id, sample.index)
        irow = ifaces.get(key)
        if irow is None:
            irow = InterfaceState(
                device_id=row.device_id,
                if_index=sample.index,
                **{f"{c}_total": 0 for c in _COUNTERS},
            )
            session.add(irow)
            ifaces[key] = irow
        _apply_interface(irow, sample, rebooted=rebooted, now=now)


def _apply_interface(
    irow: InterfaceState, sample: InterfaceSample, *, rebooted: bool, now: datetime
) -> None:
    # ifName/ifAlias are refreshed on a longer interval by the collectors: keep the cached
    # value when a poll does not carry them.
    if sample.name is not None:
        irow.name = sample.name
    if sample.alias is not None:
        irow.alias = sample.alias
    if sample.admin_up is not None:
        irow.admin_up = sample.admin_up
    if sample.oper_up is not None:
        if irow.oper_up is not None and irow.oper_up != sample.oper_up:
            irow.oper_changed_at = now
        irow.oper_up = sample.oper_up
    if sample.high_speed_mbps is not None:
        irow.speed_mbps = sample.high_speed_mbps
    for name in _COUNTERS:
        current = getattr(sample, name)
        if current is None:
            continue
        previous = _from_db(getattr(irow, f"{name}_raw"))
        total = _from_db(getattr(irow, f"{name}_total")) or 0
        if previous is not None:
            bits = sample.counter_bits if name.endswith("_octets") else 32
            total += counter_delta(previous, current, rebooted=rebooted, bits=bits)
        setattr(irow, f"{name}_total", _to_db(total))
        setattr(irow, f"{name}_raw", _to_db(current))
    irow.updated_at = now


# --------------------------------------------------------------------------- topology


def _is_stale(row: DeviceState | _Cur, *, policy: StorePolicy, now: datetime) -> bool:
    if row.last_poll_at is None:
        return True
    interval = row.poll_interval_seconds or policy.default_interval_seconds
    limit = timedelta(seconds=interval * policy.stale_after_intervals)
    return now - as_utc(row.last_poll_at) > limit


@dataclass(slots=True)
class _Cur:
    """The columns of a device's state that the recompute reads and writes."""

    status: str
    observed_status: str
    reason: str | None
    last_poll_at: datetime | None
    poll_interval_seconds: float | None
    consecutive_failures: int
    since: datetime | None
    updated_at: datetime | None
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class _LinkEnds:
    id: str
    a_device: str
    a_interface: str
    z_device: str
    z_interface: str


def recompute_states(
    session: Session, *, policy: StorePolicy | None = None, now: datetime | None = None
) -> list[Transition]:
    """Re-derive every device's and link's effective state and persist the changes.

    Applies staleness (``unknown``), the topology rule (``unreachable``) and the link
    rules, creates state rows for inventory devices and links that have none, and writes
    a :class:`~collectors.models.StateTransition` for each change. No commit. Reads plain
    columns and writes only the rows that changed (1,000 devices: a few tens of ms).
    """
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    session.flush()
    topo = Topology.load(session)
    links = [
        _LinkEnds(*row)
        for row in session.execute(
            select(Link.id, Link.a_device, Link.a_interface, Link.z_device, Link.z_interface)
        )
    ]
    ds = cast(Table, DeviceState.__table__)
    rows: dict[str, _Cur] = {
        r[0]: _Cur(r[1], r[2], r[3], r[4], r[5], r[6] or 0, r[7], r[8])
        for r in session.execute(
            select(ds.c.device_id, ds.c.status, ds.c.observed_status, ds.c.reason,
                   ds.c.last_poll_at, ds.c.poll_interval_seconds, ds.c.consecutive_failures,
                   ds.c.since, ds.c.updated_at)
        )
    }
    gone = [d for d in rows if d not in topo.device_site]
    if gone and topo.device_site:
        # Devices removed from the inventory: their current state goes (history stays).
        for chunk in _chunks(gone):
            session.execute(delete(InterfaceState).where(InterfaceState.device_id.in_(chunk)))
            session.execute(delete(DeviceState).where(DeviceState.device_id.in_(chunk)))
        for device_id in gone:
            del rows[device_id]
        session.expire_all()
        logger.info("store: dropped the state of %d devices no longer in the inventory",
                    len(gone))
    new_rows = [d for d in topo.device_site if d not in rows]
    if new_rows:
        session.execute(
            insert(ds),
            [
                {"device_id": d, "status": UNKNOWN, "observed_status": UNKNOWN, "since": now,
                 "consecutive_failures": 0, "polls_total": 0, "errors_total": 0,
                 "timeouts_total": 0, "updated_at": now}
                for d in new_rows
            ],
        )
        for d in new_rows:
            rows[d] = _Cur(UNKNOWN, UNKNOWN, None, None, None, 0, now, now)

    own: dict[str, tuple[str, str | None]] = {}
    for device_id, cur in rows.items():
        if _is_stale(cur, policy=policy, now=now):
            own[device_id] = (UNKNOWN, "no poll yet" if cur.last_poll_at is None else "data stale")
        else:
            own[device_id] = (cur.observed_status or UNKNOWN, cur.reason)

    # Interface oper status at link ends, from fresh data only.
    wanted = {(lk.a_device, lk.a_interface) for lk in links}
    wanted |= {(lk.z_device, lk.z_interface) for lk in links}
    link_by_id = {lk.id: lk for lk in links}
    end_devices = sorted({d for d, _ in wanted})
    oper: dict[tuple[str, str], bool | None] = {}
    ist = cast(Table, InterfaceState.__table__)
    for chunk in _chunks(end_devices):
        for did, index, name, alias, oper_up in session.execute(
            select(ist.c.device_id, ist.c.if_index, ist.c.name, ist.c.alias, ist.c.oper_up)
            .where(ist.c.device_id.in_(chunk))
        ):
            if own.get(did, (UNKNOWN, None))[0] == UNKNOWN:
                continue
            for label in (name, alias, str(index)):
                if label is not None and (did, label) in wanted:
                    oper.setdefault((did, label), oper_up)

    effective: dict[str, tuple[str, str | None]] = {}
    visiting: set[str] = set()
    blocked: set[str] = set()

    def blocked_by(device_id: str) -> str | None:
        parent = topo.parent(Node("device", device_id))
        if parent is None:
            return None
        if parent.kind == "device":
            status = eff(parent.id)[0]
            if status in (DOWN, UNREACHABLE):
                return f"upstream device {parent.id} is {status}"
            return None
        link = link_by_id.get(parent.id)
        if link is None or link.a_device == device_id:
            return None
        status = eff(link.a_device)[0]
        if status in (DOWN, UNREACHABLE):
            return f"uplink {link.id}: A end {link.a_device} is {status}"
        if oper.get((link.a_device, link.a_interface)) is False:
            return f"uplink {link.id} down ({link.a_device} {link.a_interface} oper down)"
        return None

    def suspect_upstream(device_id: str) -> str | None:
        """The nearest upstream device when its own last polls failed (verdict pending)."""
        parent = topo.parent(Node("device", device_id))
        if parent is None:
            return None
        upstream = parent.id
        if parent.kind == "link":
            link = link_by_id.get(parent.id)
            if link is None or link.a_device == device_id:
                return None
            upstream = link.a_device
        cur = rows.get(upstream)
        if cur is None or own.get(upstream, (UNKNOWN, None))[0] == UNKNOWN:
            return None
        return upstream if cur.consecutive_failures > 0 else None

    def eff(device_id: str) -> tuple[str, str | None]:
        if device_id in effective:
            return effective[device_id]
        status, reason = own.get(device_id, (UNKNOWN, "not in store"))
        if device_id in visiting:  # a cycle in the inventory: stop at the device's own state
            return status, reason
        visiting.add(device_id)
        try:
            if status == DOWN:
                cause = blocked_by(device_id)
                cur = rows.get(device_id)
                previous = cur.status if cur is not None else UNKNOWN
                if cause is not None:
                    status, reason = UNREACHABLE, f"behind a fault: {cause}"
                    blocked.add(device_id)
                elif (suspect := suspect_upstream(device_id)) is not None and previous != DOWN:
                    # Devices behind a cut reach N failures at different moments: while the
                    # device in front of this one is failing too, keep the previous state
                    # until its verdict rather than call the one behind it down first.
                    status = previous
                    reason = f"{reason}; waiting for the verdict on upstream {suspect}"
                elif (
                    previous == UNREACHABLE
                    and cur is not None
                    and cur.consecutive_failures < policy.down_after_failures
                ):
                    # The fault in front was repaired: failures seen behind it do not count;
                    # the device needs N failed polls of its own to be down.
                    reason = "upstream recovered; waiting for this device's own polls"
                    status = UNREACHABLE
        finally:
            visiting.discard(device_id)
        effective[device_id] = (status, reason)
        return status, reason

    out: list[Transition] = []
    for device_id, cur in rows.items():
        status, reason = eff(device_id)
        if cur.status != status:
            out.append(Transition("device", device_id, cur.status, status, now,
                                  _clip(reason)))
            cur.status, cur.since, cur.updated_at, cur.dirty = status, now, now, True
        if status != UP and cur.reason != reason:
            cur.reason, cur.dirty = reason, True
        if device_id in blocked and cur.consecutive_failures:
            # Failures behind a fault are not this device's own evidence (see above).
            cur.consecutive_failures, cur.dirty = 0, True
    changed = [
        {"b_id": d, "status": c.status, "since": c.since, "updated_at": c.updated_at,
         "reason": _clip(c.reason), "consecutive_failures": c.consecutive_failures}
        for d, c in rows.items()
        if c.dirty
    ]
    if changed:
        session.execute(
            update(ds).where(ds.c.device_id == bindparam("b_id")).values(
                status=bindparam("status"), since=bindparam("since"),
                updated_at=bindparam("updated_at"), reason=bindparam("reason"),
                consecutive_failures=bindparam("consecutive_failures"),
            ),
            changed,
        )

    ls = cast(Table, LinkState.__table__)
    link_rows = {
        r[0]: list(r[1:])
        for r in session.execute(
            select(ls.c.link_id, ls.c.status, ls.c.reason, ls.c.a_oper_up, ls.c.z_oper_up)
        )
    }
    stale_links = [lid for lid in link_rows if lid not in link_by_id]
    for chunk in _chunks(stale_links):
        session.execute(delete(ls).where(ls.c.link_id.in_(chunk)))
    link_inserts: list[dict[str, Any]] = []
    link_updates: list[dict[str, Any]] = []
    for link in links:
        status, reason = _link_status(link, eff, oper)
        a_up = oper.get((link.a_device, link.a_interface))
        z_up = oper.get((link.z_device, link.z_interface))
        values = {"status": status, "reason": _clip(reason), "a_oper_up": a_up,
                  "z_oper_up": z_up, "updated_at": now}
        previous = link_rows.get(link.id)
        if previous is None:
            link_inserts.append({"link_id": link.id, "since": now, **values})
            out.append(Transition("link", link.id, UNKNOWN, status, now, _clip(reason)))
            continue
        old_status, old_reason, old_a, old_z = previous
        if (old_status, old_reason, old_a, old_z) == (status, _clip(reason), a_up, z_up):
            continue
        since = now if old_status != status else None
        if old_status != status:
            out.append(Transition("link", link.id, old_status, status, now, _clip(reason)))
        link_updates.append({"b_id": link.id, **values, "since": since, "keep": since is None})
    # a link seen for the first time starts as "unknown": a change only if it is not
    out = [t for t in out if not (t.kind == "link" and t.from_status == t.to_status)]
    if link_inserts:
        session.execute(insert(ls), link_inserts)
    for group in (
        [u for u in link_updates if u["keep"]],
        [u for u in link_updates if not u["keep"]],
    ):
        if not group:
            continue
        names = ("status", "reason", "a_oper_up", "z_oper_up", "updated_at")
        cols: dict[str, Any] = {k: bindparam(k) for k in names}
        if not group[0]["keep"]:
            cols["since"] = bindparam("since")
        session.execute(
            update(ls).where(ls.c.link_id == bindparam("b_id")).values(**cols),
            [{k: v for k, v in u.items() if k != "keep"} for u in group],
        )
    if out:
        session.execute(
            insert(cast(Table, StateTransition.__table__)),
            [{"kind": t.kind, "subject": t.subject, "from_status": t.from_status,
              "to_status": t.to_status, "at": t.at, "reason": t.reason} for t in out],
        )
    for t in out:
        log = logger.warning if t.to_status == DOWN else logger.info
        log("%s %s: %s -> %s (%s)", t.kind, t.subject, t.from_status, t.to_status, t.reason)
    return out


def _clip(reason: str | None) -> str | None:
    return (reason or "")[:512] or None


def _link_status(
    link: _LinkEnds,
    eff: Any,
    oper: Mapping[tuple[str, str], bool | None],
) -> tuple[str, str | None]:
    a_status = eff(link.a_device)[0]
    z_status = eff(link.z_device)[0]
    a_up = oper.get((link.a_device, link.a_interface))
    z_up = oper.get((link.z_device, link.z_interface))
    if a_status in (DOWN, UNREACHABLE):
        return UNREACHABLE, f"A end {link.a_device} is {a_status}"
    if a_up is False:
        return DOWN, f"A interface {link.a_device} {link.a_interface} oper down"
    if z_up is False:
        return DOWN, f"Z interface {link.z_device} {link.z_interface} oper down"
    if z_status == DOWN:
        return DOWN, f"far end {link.z_device} down"
    if z_status == UNREACHABLE:
        return UNREACHABLE, f"far end {link.z_device} unreachable"
    if a_up is True or z_up is True or z_status == UP:
        return UP, None
    return UNKNOWN, "no fresh data from either end"


def _transition(
    session: Session,
    kind: str,
    subject: str,
    from_status: str,
    to_status: str,
    at: datetime,
    reason: str | None,
) -> Transition:
    reason = (reason or "")[:512] or None
    session.add(
        StateTransition(
            kind=kind,
            subject=subject,
            from_status=from_status,
            to_status=to_status,
            at=at,
            reason=reason,
        )
    )
    return Transition(kind, subject, from_status, to_status, at, reason)


# --------------------------------------------------------------------------- reading


def device_states(
    session: Session,
    device_ids: Iterable[str] | None = None,
    *,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> list[DeviceStateView]:
    """Current state of devices (all, or ``device_ids``), sorted by id.

    A device whose last poll is older than ``stale_after_intervals`` of its interval reads
    ``unknown`` with ``stale=True`` whatever was stored; a device never polled is
    ``unknown``. Inventory devices without a state row are not listed.
    """
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    stmt = select(DeviceState).order_by(DeviceState.device_id)
    rows: list[DeviceState] = []
    if device_ids is None:
        rows = list(session.scalars(stmt))
    else:
        ids = list(device_ids)
        for chunk in _chunks(ids):
            rows.extend(session.scalars(stmt.where(DeviceState.device_id.in_(chunk))))
        rows.sort(key=lambda r: r.device_id)
    out = []
    for r in rows:
        stale = _is_stale(r, policy=policy, now=now)
        status, reason, since = r.status, r.reason, r.since
        if stale and status != UNKNOWN:
            status, reason = UNKNOWN, "data stale"
            if r.last_poll_at is not None:
                interval = r.poll_interval_seconds or policy.default_interval_seconds
                since = as_utc(r.last_poll_at) + timedelta(
                    seconds=interval * policy.stale_after_intervals
                )
        out.append(
            DeviceStateView(
                device_id=r.device_id,
                status=status,
                since=_utc_or_none(since),
                reason=reason,
                stale=stale,
                observed_status=r.observed_status,
                protocol=r.protocol,
                last_poll_at=_utc_or_none(r.last_poll_at),
                last_ok_at=_utc_or_none(r.last_ok_at),
                consecutive_failures=r.consecutive_failures or 0,
                poll_duration_seconds=r.poll_duration_seconds,
                poll_interval_seconds=r.poll_interval_seconds,
                polls_total=r.polls_total or 0,
                errors_total=r.errors_total or 0,
                timeouts_total=r.timeouts_total or 0,
                sys_name=r.sys_name,
                sys_descr=r.sys_descr,
                sys_uptime_ticks=r.sys_uptime_ticks,
                ups_on_battery=r.ups_on_battery,
                ups_charge_percent=r.ups_charge_percent,
                ups_minutes_remaining=r.ups_minutes_remaining,
                kiosk_app_version=r.kiosk_app_version,
                kiosk_app_active=r.kiosk_app_active,
                kiosk_disk_free_bytes=r.kiosk_disk_free_bytes,
                kiosk_disk_total_bytes=r.kiosk_disk_total_bytes,
                kiosk_uptime_seconds=r.kiosk_uptime_seconds,
                kiosk_last_boot=_utc_or_none(r.kiosk_last_boot),
            )
        )
    return out


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def link_states(
    session: Session, link_ids: Iterable[str] | None = None
) -> list[LinkStateView]:
    """Current state of links (all, or ``link_ids``), sorted by id."""
    stmt = select(LinkState).order_by(LinkState.link_id)
    if link_ids is not None:
        stmt = stmt.where(LinkState.link_id.in_(list(link_ids)))
    return [
        LinkStateView(
            link_id=r.link_id,
            status=r.status,
            since=_utc_or_none(r.since),
            reason=r.reason,
            a_oper_up=r.a_oper_up,
            z_oper_up=r.z_oper_up,
            updated_at=_utc_or_none(r.updated_at),
        )
        for r in session.scalars(stmt)
    ]


def interface_states(
    session: Session, device_ids: Iterable[str] | None = None
) -> list[InterfaceStateView]:
    """Interfaces (of all devices, or ``device_ids``) with monotonic counter totals."""
    stmt = select(InterfaceState).order_by(InterfaceState.device_id, InterfaceState.if_index)
    if device_ids is not None:
        stmt = stmt.where(InterfaceState.device_id.in_(list(device_ids)))
    return [
        InterfaceStateView(
            device_id=r.device_id,
            if_index=r.if_index,
            name=r.name,
            alias=r.alias,
            admin_up=r.admin_up,
            oper_up=r.oper_up,
            speed_mbps=r.speed_mbps,
            updated_at=_utc_or_none(r.updated_at),
            **{f"{c}_total": _from_db(getattr(r, f"{c}_total")) or 0 for c in _COUNTERS},
        )
        for r in session.scalars(stmt)
    ]


def transitions(
    session: Session,
    *,
    kind: str | None = None,
    subject: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[Transition]:
    """Persisted state changes, oldest first, filtered by kind/subject/window."""
    stmt = select(StateTransition).order_by(StateTransition.at, StateTransition.id)
    if kind is not None:
        stmt = stmt.where(StateTransition.kind == kind)
    if subject is not None:
        stmt = stmt.where(StateTransition.subject == subject)
    if start is not None:
        stmt = stmt.where(StateTransition.at >= as_utc(start))
    if end is not None:
        stmt = stmt.where(StateTransition.at < as_utc(end))
    return [
        Transition(t.kind, t.subject, t.from_status, t.to_status, as_utc(t.at), t.reason)
        for t in session.scalars(stmt.limit(limit))
    ]


# --------------------------------------------------------------------------- availability

Interval = tuple[datetime, datetime]


def _overlap(s: datetime, e: datetime, spans: Sequence[Interval]) -> float:
    total = 0.0
    for ms, me in spans:
        lo, hi = max(s, ms), min(e, me)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def _in_spans(at: datetime, spans: Sequence[Interval]) -> bool:
    return any(s <= at < e for s, e in spans)


def _subject_availability(
    segments_from: str,
    changes: Sequence[tuple[datetime, str, str]],
    *,
    start: datetime,
    end: datetime,
    maintenance: Sequence[Interval],
) -> AvailabilityResult:
    result = AvailabilityResult(percent=None, subjects=1)
    state, cursor = segments_from, start
    points = [*changes, (end, "", state)]
    for at, from_status, to_status in points:
        at = min(max(at, start), end)
        if at > cursor:
            span = (at - cursor).total_seconds()
            maint = _overlap(cursor, at, maintenance)
            result.maintenance_s += maint
            own = span - maint
            if state == UP:
                result.up_s += own
            elif state == DOWN:
                result.down_s += own
            elif state == UNREACHABLE:
                result.unreachable_s += own
            else:
                result.unknown_s += own
            cursor = at
        if to_status:
            if from_status == UP and to_status == DOWN and not _in_spans(at, maintenance):
                result.flaps += 1
            state = to_status
    result.percent = _percent(result.up_s, result.down_s)
    return result


GROUP_KINDS = ("site", "village", "district")


def availability(
    session: Session,
    *,
    kind: str,
    subject: str,
    start: datetime,
    end: datetime,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> AvailabilityResult:
    """Availability of one subject over ``[start, end)``.

    Args:
        session: an open session.
        kind: ``device``, ``link``, ``site``, ``village`` (Kemendagri code) or
            ``district`` (Kemendagri code).
        subject: the id or code.
        start, end: the window (aware or UTC-naive datetimes); the part after ``now`` is
            ignored.
        policy: staleness rule for time after a device's last poll (poller stopped).
        now: the current time (tests inject a clock).

    Returns:
        An :class:`AvailabilityResult`; sites/villages/districts sum their devices.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    return availability_many(
        session, kind=kind, subjects=[subject], start=start, end=end, policy=policy, now=now
    )[subject]


def availability_many(
    session: Session,
    *,
    kind: str,
    subjects: Iterable[str] | None = None,
    start: datetime,
    end: datetime,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> dict[str, AvailabilityResult]:
    """:func:`availability` for many subjects of one kind at once (a handful of queries
    whatever their number): every village of the regency, every device of a district…

    ``subjects=None`` means every device, link, site, village or district that has one.
    """
    if kind not in ("device", "link", *GROUP_KINDS):
        raise ValueError(
            f"unknown availability kind {kind!r}: use device, link, site, village or district"
        )
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    start, end = as_utc(start), min(as_utc(end), now)
    wanted = None if subjects is None else list(dict.fromkeys(subjects))
    placement = {
        did: (site, village, district)
        for did, site, village, district in session.execute(
            select(Device.id, Device.site_id, Site.village_code, Site.district_code).join(
                Site, Device.site_id == Site.id
            )
        )
    }
    if kind == "link":
        ends = {
            lid: (a, z)
            for lid, a, z in session.execute(select(Link.id, Link.a_device, Link.z_device))
        }
        ids = list(ends) if wanted is None else wanted
        groups = {lid: [lid] for lid in ids}
    elif kind == "device":
        ids = list(placement) if wanted is None else wanted
        groups = {did: [did] for did in ids}
    else:
        pos = GROUP_KINDS.index(kind)
        groups = {} if wanted is None else {g: [] for g in wanted}
        for did, place in placement.items():
            key = place[pos]
            if wanted is None:
                groups.setdefault(key, [])
            if key in groups:
                groups[key].append(did)
        ids = [d for members in groups.values() for d in members]
    results = {g: AvailabilityResult(percent=None) for g in groups}
    if end <= start or not ids:
        return results
    windows = list(session.scalars(select(MaintenanceWindow)))

    def spans_for(device_ids: Sequence[str]) -> list[Interval]:
        out: list[Interval] = []
        for did in device_ids:
            site, _, district = placement.get(did, (None, None, None))
            out.extend(
                maintenance_intervals(
                    windows, start, end, device_id=did, site_id=site, district_code=district
                )
            )
        return merge(out)

    subject_kind = "link" if kind == "link" else "device"
    initial, changes = _history(session, subject_kind, ids, start, end)
    cutoffs: dict[str, datetime] = {}
    if subject_kind == "device":
        for chunk in _chunks(ids):
            for did, last_poll, interval in session.execute(
                select(
                    DeviceState.device_id,
                    DeviceState.last_poll_at,
                    DeviceState.poll_interval_seconds,
                ).where(DeviceState.device_id.in_(chunk))
            ):
                if last_poll is not None:
                    seconds = (interval or policy.default_interval_seconds) * (
                        policy.stale_after_intervals
                    )
                    cutoffs[did] = as_utc(last_poll) + timedelta(seconds=seconds)
    for group, members in groups.items():
        for sid in members:
            history = list(changes.get(sid, []))
            before = initial.get(sid, UNKNOWN)
            cutoff = cutoffs.get(sid)
            if cutoff is not None and cutoff < end:
                # The poller may have stopped: after the stale limit nothing is known.
                last = history[-1][2] if history else before
                if last != UNKNOWN and (not history or history[-1][0] <= cutoff):
                    history.append((cutoff, last, UNKNOWN))
            if kind == "link":
                spans = spans_for([d for d in ends.get(sid, ()) if d])
            else:
                spans = spans_for([sid])
            results[group].add(
                _subject_availability(before, history, start=start, end=end, maintenance=spans)
            )
    return results


def _history(
    session: Session, kind: str, subjects: Sequence[str], start: datetime, end: datetime
) -> tuple[dict[str, str], dict[str, list[tuple[datetime, str, str]]]]:
    """Each subject's state at ``start`` and its changes within ``[start, end)``."""
    initial: dict[str, tuple[datetime, int, str]] = {}
    changes: dict[str, list[tuple[datetime, str, str]]] = {}
    st = StateTransition
    for chunk in _chunks(list(subjects)):
        last = (
            select(st.subject, func.max(st.at).label("at"))
            .where(st.kind == kind, st.subject.in_(chunk), st.at < start)
            .group_by(st.subject)
            .subquery()
        )
        for subject, at, tid, to_status in session.execute(
            select(st.subject, st.at, st.id, st.to_status)
            .join(last, (st.subject == last.c.subject) & (st.at == last.c.at))
            .where(st.kind == kind)
        ):
            key = (as_utc(at), tid, to_status)
            if subject not in initial or key[:2] > initial[subject][:2]:
                initial[subject] = key
        for subject, at, from_status, to_status in session.execute(
            select(st.subject, st.at, st.from_status, st.to_status)
            .where(st.kind == kind, st.subject.in_(chunk), st.at >= start, st.at < end)
            .order_by(st.subject, st.at, st.id)
        ):
            changes.setdefault(subject, []).append((as_utc(at), from_status, to_status))
    return {k: v[2] for k, v in initial.items()}, changes


def flap_counts(
    session: Session, *, kind: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Up→down changes per subject of ``kind`` (``device``/``link``) within the window
    (maintenance not excluded: use :func:`availability` for that)."""
    stmt = (
        select(StateTransition.subject, func.count())
        .where(
            StateTransition.kind == kind,
            StateTransition.from_status == UP,
            StateTransition.to_status == DOWN,
            StateTransition.at >= as_utc(start),
            StateTransition.at < as_utc(end),
        )
        .group_by(StateTransition.subject)
    )
    return {subject: int(count) for subject, count in session.execute(stmt)}
