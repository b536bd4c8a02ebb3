"""Named value sets of the inventory (the words the users say)."""

from __future__ import annotations

from enum import StrEnum


class RegionLevel(StrEnum):
    """Levels of the Kemendagri administrative hierarchy."""

    PROVINSI = "provinsi"
    KABUPATEN = "kabupaten"
    KOTA = "kota"
    KECAMATAN = "kecamatan"
    DESA = "desa"
    KELURAHAN = "kelurahan"


VILLAGE_LEVELS = frozenset({RegionLevel.DESA, RegionLevel.KELURAHAN})


class SiteKind(StrEnum):
    """What a site is."""

    VILLAGE_OFFICE = "village_office"
    KELURAHAN_OFFICE = "kelurahan_office"
    DISTRICT_OFFICE = "district_office"
    HEALTH_SITE = "health_site"
    GOVERNMENT_UNIT = "government_unit"
    SERVICE_MALL = "service_mall"
    POP = "pop"
    NOC = "noc"


SERVICE_POINT_KINDS = frozenset({SiteKind.VILLAGE_OFFICE, SiteKind.KELURAHAN_OFFICE})


class SiteStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    DECOMMISSIONED = "decommissioned"


class DeviceRole(StrEnum):
    """What a device does at its site."""

    ROUTER = "router"
    SWITCH = "switch"
    OLT = "olt"
    ONT = "ont"
    ACCESS_POINT = "access_point"
    UPS = "ups"
    KIOSK = "kiosk"
    SERVER = "server"


class LinkMedium(StrEnum):
    FIBRE = "fibre"
    RADIO = "radio"
    VSAT = "vsat"
    LTE = "lte"


class Facility(StrEnum):
    """Facts of the Smart Kampung facilities / human-resources checklist."""

    READING_CORNER = "reading_corner"
    WAITING_ROOM = "waiting_room"
    LACTATION_ROOM = "lactation_room"
    OPERATORS_TRAINED = "operators_trained"
    KIOSKS_PLANNED = "kiosks_planned"


BOOLEAN_FACILITIES = frozenset(
    {Facility.READING_CORNER, Facility.WAITING_ROOM, Facility.LACTATION_ROOM}
)


class SnmpVersion(StrEnum):
    V2C = "2c"
    V3 = "3"


class SnmpAuth(StrEnum):
    SHA = "sha"
    SHA256 = "sha256"


class SnmpPriv(StrEnum):
    AES = "aes"
    AES256 = "aes256"


class MaintenanceScope(StrEnum):
    DEVICE = "device"
    SITE = "site"
    DISTRICT = "district"


# Observed states: what the poller says about the inventory (the store, /metrics, alerts,
# rollouts and readiness share these words; collectors and playbooks both read them).


class DeviceStatus(StrEnum):
    """A device's state as Kentongan reports it."""

    UP = "up"
    DOWN = "down"
    UNREACHABLE = "unreachable"  # behind a fault upstream: not its own downtime
    UNKNOWN = "unknown"  # never polled, or data too old


class LinkStatus(StrEnum):
    """A link's state (derived from the interfaces at its ends)."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class SubjectKind(StrEnum):
    """What a state transition is about."""

    DEVICE = "device"
    LINK = "link"


OUTAGE_STATUSES = frozenset({DeviceStatus.DOWN, DeviceStatus.UNREACHABLE})
"""Device states that count as an outage of the service point."""

REPORTED_STATUSES = frozenset({DeviceStatus.UP, DeviceStatus.DOWN, DeviceStatus.UNREACHABLE})
"""Device states with an ``up`` sample on /metrics (``unknown`` has none)."""
