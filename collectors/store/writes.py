"""Writes: fold one poll cycle's observations into device and interface state rows."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from collectors.base import InterfaceSample, Observation
from collectors.models import DeviceState, InterfaceState
from collectors.store.counters import (
    _COUNTERS,
    _from_db,
    _to_db,
    counter_delta,
    uptime_went_back,
)
from collectors.store.derive import recompute_states
from collectors.store.policy import DOWN, UNKNOWN, UP, StorePolicy, Transition, _chunks
from core.timeutil import as_utc, utcnow

logger = logging.getLogger(__name__)


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
    row.checked_at = now  # every poll confirms the state, changed or not
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
            irow.since = now
        elif irow.since is None:
            irow.since = now
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
    irow.checked_at = now
