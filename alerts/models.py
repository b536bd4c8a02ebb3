"""Incident tables: what Alertmanager told Kentongan, linked to the inventory.

An incident is one alert instance, keyed by Alertmanager's ``fingerprint`` and the
alert's ``startsAt``: repeated deliveries of the same alert update nothing, a new firing
of the same series (new ``startsAt``) opens a new incident. Times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inventory.db import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Incident(Base):
    """One alert instance from Alertmanager, opened when it fires, resolved when it ends."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_incidents_fingerprint_starts_at"),
        Index("ix_incidents_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    alertname: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    link_id: Mapped[str | None] = mapped_column(String(64), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    village_code: Mapped[str | None] = mapped_column(String(16), index=True)
    district_code: Mapped[str | None] = mapped_column(String(16), index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    probable_cause: Mapped[str | None] = mapped_column(String(128))
    probable_cause_kind: Mapped[str | None] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    generator_url: Mapped[str | None] = mapped_column(String(1024))
    receiver: Mapped[str | None] = mapped_column(String(128))
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    #: times the alert fired again shortly after it ended and was folded into this incident
    #: (flapping power: one incident, not dozens); ``last_starts_at`` is that latest firing
    flaps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
