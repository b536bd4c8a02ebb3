"""Observation tables: current device, interface and link state, and state transitions.

The shape is a contract read by the alerts (``/metrics``) and readiness engineers: columns
are only ever added, never renamed. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.db import Base

#: A 64-bit autoincrementing key that is still a rowid alias on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class DeviceState(Base):
    """The current state of one device, as the poller last saw it.

    ``status`` is the effective status (``up``/``down``/``unreachable``/``unknown``);
    ``observed_status`` is what the device's own polls say, before the topology rule
    (a device behind a down uplink or parent is ``unreachable``, not ``down``).
    Staleness is applied when reading (see :func:`collectors.store.device_states`).
    """

    __tablename__ = "device_states"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)
    observed_status: Mapped[str] = mapped_column(String(16), default="unknown")
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(512))
    protocol: Mapped[str | None] = mapped_column(String(8))
    poll_interval_seconds: Mapped[float | None] = mapped_column(Float)
    last_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    poll_duration_seconds: Mapped[float | None] = mapped_column(Float)
    polls_total: Mapped[int] = mapped_column(BigInteger, default=0)
    errors_total: Mapped[int] = mapped_column(BigInteger, default=0)
    timeouts_total: Mapped[int] = mapped_column(BigInteger, default=0)
    sys_name: Mapped[str | None] = mapped_column(String(255))
    sys_descr: Mapped[str | None] = mapped_column(Text)
    sys_uptime_ticks: Mapped[int | None] = mapped_column(BigInteger)
    ups_on_battery: Mapped[bool | None] = mapped_column(Boolean)
    ups_charge_percent: Mapped[float | None] = mapped_column(Float)
    ups_minutes_remaining: Mapped[float | None] = mapped_column(Float)
    kiosk_app_version: Mapped[str | None] = mapped_column(String(64))
    kiosk_app_active: Mapped[bool | None] = mapped_column(Boolean)
    kiosk_disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    kiosk_disk_total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    kiosk_uptime_seconds: Mapped[float | None] = mapped_column(Float)
    kiosk_last_boot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When a poll last confirmed the state (every poll, changed or not); ``since`` is when
    #: it last changed. Freshness is judged on this (:func:`collectors.store.is_fresh`).
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InterfaceState(Base):
    """One interface of one device. Counters are monotonic totals kept by Kentongan
    (wraps and reboots folded in, never negative); ``*_raw`` hold the last raw readings."""

    __tablename__ = "interface_states"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    if_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128), index=True)
    alias: Mapped[str | None] = mapped_column(String(255))
    admin_up: Mapped[bool | None] = mapped_column(Boolean)
    oper_up: Mapped[bool | None] = mapped_column(Boolean)
    speed_mbps: Mapped[int | None] = mapped_column(BigInteger)
    in_octets_total: Mapped[int] = mapped_column(BigInteger, default=0)
    out_octets_total: Mapped[int] = mapped_column(BigInteger, default=0)
    in_errors_total: Mapped[int] = mapped_column(BigInteger, default=0)
    out_errors_total: Mapped[int] = mapped_column(BigInteger, default=0)
    in_discards_total: Mapped[int] = mapped_column(BigInteger, default=0)
    out_discards_total: Mapped[int] = mapped_column(BigInteger, default=0)
    in_octets_raw: Mapped[int | None] = mapped_column(BigInteger)
    out_octets_raw: Mapped[int | None] = mapped_column(BigInteger)
    in_errors_raw: Mapped[int | None] = mapped_column(BigInteger)
    out_errors_raw: Mapped[int | None] = mapped_column(BigInteger)
    in_discards_raw: Mapped[int | None] = mapped_column(BigInteger)
    out_discards_raw: Mapped[int | None] = mapped_column(BigInteger)
    oper_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When a poll last reported this interface (every poll); ``since``: its oper status's
    #: last change (or first sighting).
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkState(Base):
    """The current state of one inventory link (from its A/Z interfaces and far end)."""

    __tablename__ = "link_states"

    link_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown", index=True)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(512))
    a_oper_up: Mapped[bool | None] = mapped_column(Boolean)
    z_oper_up: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When fresh polls of the link's ends last confirmed its state (every recompute with
    #: fresh data, changed or not); ``since`` is when the state last changed.
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StateTransition(Base):
    """One change of state of a device or link (``kind`` = ``device`` | ``link``)."""

    __tablename__ = "state_transitions"
    __table_args__ = (Index("ix_state_transitions_subject_at", "kind", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    reason: Mapped[str | None] = mapped_column(String(512))
