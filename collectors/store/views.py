"""Read views: current device, link and interface state, and persisted transitions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.models import DeviceState, InterfaceState, LinkState, StateTransition
from collectors.store.counters import _COUNTERS, _from_db
from collectors.store.derive import _is_stale
from collectors.store.policy import (
    UNKNOWN,
    StorePolicy,
    Transition,
    _chunks,
    _utc_or_none,
    fresh_until,
    is_fresh,
)
from core.timeutil import as_utc, utcnow
from inventory.models import Link


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
    checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LinkStateView:
    """A link's current state (staleness applied, as for devices: a state no fresh poll
    confirmed reads ``unknown`` with ``stale=True``)."""

    link_id: str
    status: str
    since: datetime | None
    reason: str | None
    a_oper_up: bool | None
    z_oper_up: bool | None
    updated_at: datetime | None
    checked_at: datetime | None = None
    stale: bool = False


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
    checked_at: datetime | None = None
    since: datetime | None = None


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
        checked = r.checked_at or r.last_poll_at
        if stale and status != UNKNOWN:
            status, reason = UNKNOWN, "data stale"
            since = fresh_until(checked, interval_seconds=r.poll_interval_seconds,
                                policy=policy) or since
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
                checked_at=_utc_or_none(checked),
            )
        )
    return out


def link_states(
    session: Session,
    link_ids: Iterable[str] | None = None,
    *,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> list[LinkStateView]:
    """Current state of links (all, or ``link_ids``), sorted by id.

    A link whose state no fresh poll of its ends confirmed (``checked_at`` older than
    ``stale_after_intervals`` of the longer of its ends' intervals) reads ``unknown``.
    """
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    stmt = select(LinkState, Link.a_device, Link.z_device).join(
        Link, Link.id == LinkState.link_id
    ).order_by(LinkState.link_id)
    if link_ids is not None:
        stmt = stmt.where(LinkState.link_id.in_(list(link_ids)))
    rows = list(session.execute(stmt).tuples())
    ends = sorted({d for _, a, z in rows for d in (a, z)})
    interval: dict[str, float | None] = {}
    for chunk in _chunks(ends):
        for did, seconds in session.execute(
            select(DeviceState.device_id, DeviceState.poll_interval_seconds).where(
                DeviceState.device_id.in_(chunk)
            )
        ):
            interval[did] = seconds
    out = []
    for r, a, z in rows:
        spans = [i for i in (interval.get(a), interval.get(z)) if i]
        stale = not is_fresh(r.checked_at, now=now, interval_seconds=max(spans, default=None),
                             policy=policy)
        status, reason, since = r.status, r.reason, _utc_or_none(r.since)
        if stale and status != UNKNOWN:
            status, reason = UNKNOWN, "data stale"
            since = fresh_until(r.checked_at, interval_seconds=max(spans, default=None),
                                policy=policy) or since
        out.append(
            LinkStateView(
                link_id=r.link_id,
                status=status,
                since=since,
                reason=reason,
                a_oper_up=r.a_oper_up,
                z_oper_up=r.z_oper_up,
                updated_at=_utc_or_none(r.updated_at),
                checked_at=_utc_or_none(r.checked_at),
                stale=stale,
            )
        )
    return out


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
            checked_at=_utc_or_none(r.checked_at),
            since=_utc_or_none(r.since),
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
