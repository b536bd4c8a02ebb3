"""The collector contract: plain ``Target`` values in, ``Observation`` values out.

Collectors never see a database session. An unreachable device is a result
(``ok=False`` with a reason), not an exception; exceptions are for programming and
configuration errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from core.errors import KentonganError
from inventory.choices import DeviceStatus as DeviceStatus  # re-exported (was defined here)


class CollectorError(KentonganError):
    """A collector could not be set up (bad credentials reference, unsupported option…)."""

    def __init__(self, message: str, *, device: str | None = None) -> None:
        super().__init__(f"{device}: {message}" if device else message)
        self.device = device


class PollTimeout(CollectorError, TimeoutError):
    """A device did not answer within its timeout."""


class Secret:
    """A secret value that never shows itself in ``repr``/``str``/logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class SnmpCredentials:
    """Resolved SNMP credentials (secrets already read from env/file)."""

    version: str  # "2c" or "3"
    community: Secret | None = None
    user: str | None = None
    auth: str | None = None  # "sha" | "sha256"
    auth_key: Secret | None = None
    priv: str | None = None  # "aes" | "aes256"
    priv_key: Secret | None = None


@dataclass(frozen=True, slots=True)
class SshCredentials:
    """Resolved SSH credentials."""

    username: str
    key_file: str | None = None
    password: Secret | None = None
    known_hosts_file: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Everything a collector needs to poll one device."""

    device_id: str
    role: str
    address: str
    snmp_port: int = 161
    ssh_port: int = 22
    device_type: str | None = None
    snmp: SnmpCredentials | None = None
    ssh: SshCredentials | None = None
    site_id: str | None = None
    village_code: str | None = None
    district_code: str | None = None
    timeout: float = 2.0
    retries: int = 1
    onu_interval: float | None = None
    """Seconds between walks of a profile's slow tables (ONU tables) for this device; the
    profile's ``interval`` (default 300 s) when ``None``."""


@dataclass(slots=True)
class InterfaceSample:
    """One row of IF-MIB ifTable/ifXTable."""

    index: int
    name: str | None = None
    alias: str | None = None
    admin_up: bool | None = None
    oper_up: bool | None = None
    in_octets: int | None = None
    out_octets: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    high_speed_mbps: int | None = None
    counter_bits: int | None = None
    """Width of ``in_octets``/``out_octets`` when known: 64 (ifXTable), 32 (ifTable only)."""


class SensorKind(StrEnum):
    """What a sensor measures; the value is in the kind's base unit (:data:`SENSOR_UNITS`)."""

    TEMPERATURE = "temperature"
    VOLTAGE = "voltage"
    CURRENT = "current"
    POWER = "power"
    FAN = "fan"
    HUMIDITY = "humidity"
    CPU = "cpu"
    MEMORY = "memory"
    LOAD = "load"
    CHARGE = "charge"
    RUNTIME = "runtime"
    FREQUENCY = "frequency"
    OPTICAL_RX = "optical_rx"
    OPTICAL_TX = "optical_tx"
    SIGNAL = "signal"
    QUALITY = "quality"
    RATE = "rate"
    STATE = "state"


SENSOR_UNITS: dict[SensorKind, str] = {
    SensorKind.TEMPERATURE: "celsius",
    SensorKind.VOLTAGE: "volts",
    SensorKind.CURRENT: "amperes",
    SensorKind.POWER: "watts",
    SensorKind.FAN: "rpm",
    SensorKind.HUMIDITY: "ratio",
    SensorKind.CPU: "ratio",
    SensorKind.MEMORY: "ratio",
    SensorKind.LOAD: "ratio",
    SensorKind.CHARGE: "ratio",
    SensorKind.RUNTIME: "seconds",
    SensorKind.FREQUENCY: "hertz",
    SensorKind.OPTICAL_RX: "dbm",
    SensorKind.OPTICAL_TX: "dbm",
    SensorKind.SIGNAL: "dbm",
    SensorKind.QUALITY: "db",
    SensorKind.RATE: "bits_per_second",
    SensorKind.STATE: "",
}
"""Base unit of each kind (the suffix of its metric family)."""


@dataclass(slots=True)
class SensorSample:
    """One value a vendor profile read (health, optics, radio, UPS detail, ONU state).

    Attributes:
        kind: what it measures; ``value`` is in the kind's base unit.
        name: the sensor's label (from a lookup such as entPhysicalName, or the profile).
        value: the value after the profile's scaling; ``None`` when the agent reported
            "no signal" (a ``no_signal`` sentinel, or 0 µW/mW for a dBm conversion). Values
            in a reading's ``absent`` list (no module, no sensor) give no sample at all.
        profile: the profile that declared it; ``table``/``index``: where it was read
            (``index`` is the row index text, ``""`` for a scalar).
        state: for ``kind=state``: the mapped state word (``online``, ``los``, ``dying_gasp``…).
        low, high: thresholds (profile or defaults) in the same unit.
    """

    kind: SensorKind
    name: str
    value: float | None
    profile: str = ""
    table: str = ""
    index: str = ""
    state: str | None = None
    low: float | None = None
    high: float | None = None
    oid: str = ""
    """The instance OID the raw value was read from."""


@dataclass(slots=True)
class UpsSample:
    """UPS-MIB essentials."""

    on_battery: bool | None = None
    charge_percent: float | None = None
    minutes_remaining: float | None = None


@dataclass(slots=True)
class KioskSample:
    """What a kiosk reports (HOST-RESOURCES-MIB / NET-SNMP-EXTEND-MIB or SSH)."""

    app_version: str | None = None
    app_active: bool | None = None
    disk_free_bytes: int | None = None
    disk_total_bytes: int | None = None
    uptime_seconds: float | None = None
    last_boot: datetime | None = None


@dataclass(slots=True)
class Observation:
    """The result of one poll of one device."""

    device_id: str
    protocol: str  # "snmp" | "ssh"
    ok: bool
    started_at: datetime
    duration_seconds: float
    reason: str | None = None  # why not ok: "timeout", "auth failed", "host key mismatch"…
    sys_uptime_ticks: int | None = None
    sys_name: str | None = None
    sys_descr: str | None = None
    interfaces: list[InterfaceSample] = field(default_factory=list)
    ups: UpsSample | None = None
    kiosk: KioskSample | None = None
    sys_object_id: str | None = None
    profile: str | None = None
    """The vendor profile that matched (``collectors/profiles``), if any."""
    sensors: list[SensorSample] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Collector(Protocol):
    """One protocol's poller."""

    protocol: str

    async def collect(self, target: Target) -> Observation:
        """Poll ``target`` once; never raise for a device-side failure."""
        ...

    async def aclose(self) -> None:
        """Release sockets, engines and thread pools."""
        ...
