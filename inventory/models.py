"""Inventory tables: regions, sites, facilities, devices, links, credential profiles,
maintenance windows. The inventory is the source of truth every other package reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.db import Base


class Region(Base):
    """A Kemendagri administrative unit; the code is the natural key (``35.10.15.2004``)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("regions.code"), index=True
    )
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Site(Base):
    """A place Kentongan manages: village office, health site, PoP, NOC…"""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    village_code: Mapped[str] = mapped_column(String(16), ForeignKey("regions.code"), index=True)
    district_code: Mapped[str] = mapped_column(String(16), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)

    devices: Mapped[list[Device]] = relationship(back_populates="site", lazy="raise_on_sql")
    facilities: Mapped[list[SiteFacility]] = relationship(
        back_populates="site", lazy="raise_on_sql", cascade="all, delete-orphan"
    )


class SiteFacility(Base):
    """One attested fact of the facilities checklist (a reading corner, trained operators…).

    Facilities are attestations: who said so, when, with what evidence, until when.
    """

    __tablename__ = "site_facilities"

    site_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    facility: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    attested_by: Mapped[str | None] = mapped_column(String(128))
    attested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    site: Mapped[Site] = relationship(back_populates="facilities", lazy="raise_on_sql")


class SnmpProfile(Base):
    """SNMP credentials by reference: secrets live in environment variables or files."""

    __tablename__ = "snmp_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(4))
    community_env: Mapped[str | None] = mapped_column(String(128))
    community_file: Mapped[str | None] = mapped_column(String(512))
    user: Mapped[str | None] = mapped_column(String(64))
    auth: Mapped[str | None] = mapped_column(String(16))
    auth_key_env: Mapped[str | None] = mapped_column(String(128))
    auth_key_file: Mapped[str | None] = mapped_column(String(512))
    priv: Mapped[str | None] = mapped_column(String(16))
    priv_key_env: Mapped[str | None] = mapped_column(String(128))
    priv_key_file: Mapped[str | None] = mapped_column(String(512))
    allowed_networks: Mapped[list[str] | None] = mapped_column(JSON, default=None)


class SshProfile(Base):
    """SSH credentials by reference: a key file path, or a password in env/file."""

    __tablename__ = "ssh_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    key_file: Mapped[str | None] = mapped_column(String(512))
    password_env: Mapped[str | None] = mapped_column(String(128))
    password_file: Mapped[str | None] = mapped_column(String(512))
    known_hosts_file: Mapped[str | None] = mapped_column(String(512))
    allowed_networks: Mapped[list[str] | None] = mapped_column(JSON, default=None)


class Device(Base):
    """A managed box: router, OLT, ONT, UPS, kiosk…"""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("snmp_port BETWEEN 1 AND 65535", name="snmp_port_range"),
        CheckConstraint("ssh_port BETWEEN 1 AND 65535", name="ssh_port_range"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), ForeignKey("sites.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    address: Mapped[str] = mapped_column(String(64))
    snmp_port: Mapped[int] = mapped_column(Integer, default=161)
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    device_type: Mapped[str | None] = mapped_column(String(64))
    vendor: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(64))
    snmp_profile: Mapped[str | None] = mapped_column(String(64), ForeignKey("snmp_profiles.name"))
    ssh_profile: Mapped[str | None] = mapped_column(String(64), ForeignKey("ssh_profiles.name"))
    parent_device_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("devices.id"), index=True
    )
    poll_interval: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)

    site: Mapped[Site] = relationship(back_populates="devices", lazy="raise_on_sql")


class Link(Base):
    """A circuit between two device interfaces. By convention A is upstream (towards the
    NOC) and Z downstream; ``uplink_of`` names the site this link feeds."""

    __tablename__ = "links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    medium: Mapped[str] = mapped_column(String(16))
    a_device: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id"), index=True)
    a_interface: Mapped[str] = mapped_column(String(64))
    z_device: Mapped[str] = mapped_column(String(64), ForeignKey("devices.id"), index=True)
    z_interface: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(64))
    capacity_bps: Mapped[int | None] = mapped_column(BigInteger)
    length_m: Mapped[float | None] = mapped_column(Float)
    uplink_of: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("sites.id"), index=True, unique=True
    )


class MaintenanceWindow(Base):
    """Planned work: one-off (``starts_at``…``ends_at``) or recurring weekly in WIB
    (``weekdays`` like ``sun`` or ``mon,thu`` plus ``start_time`` ``HH:MM`` and
    ``duration_minutes``), scoped to a device, a site or a district."""

    __tablename__ = "maintenance_windows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64), index=True)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    weekdays: Mapped[str | None] = mapped_column(String(32))
    start_time: Mapped[str | None] = mapped_column(String(5))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)


def row_dict(obj: Base) -> dict[str, Any]:
    """Column values of a mapped object, keyed by attribute name."""
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}
