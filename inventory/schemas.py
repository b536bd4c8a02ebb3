"""Input schemas of the inventory file (YAML, or CSV with the same columns per kind).

Field validators sit on the fields; rules across fields and rows live in the importer.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from inventory.choices import (
    DeviceRole,
    Facility,
    LinkMedium,
    MaintenanceScope,
    RegionLevel,
    SiteKind,
    SiteStatus,
    SnmpAuth,
    SnmpPriv,
    SnmpVersion,
)

SLUG = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
REGION_CODE = r"^\d{2}(?:\.\d{2}(?:\.\d{2}(?:\.\d{4})?)?)?$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
INTERFACE = r"^[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}$"

#: Keys that would put a secret inline; each maps to the reference keys to use instead.
INLINE_SECRETS = {
    "community": "community_env or community_file",
    "auth_key": "auth_key_env or auth_key_file",
    "priv_key": "priv_key_env or priv_key_file",
    "auth_password": "auth_key_env or auth_key_file",
    "priv_password": "priv_key_env or priv_key_file",
    "password": "password_env or password_file",
    "private_key": "key_file (a path)",
    "secret": "an *_env or *_file reference",
    "token": "an *_env or *_file reference",
}

#: Free-text fields where a line break or tab is text; everywhere else it is refused.
MULTILINE_FIELDS = frozenset({"address", "evidence", "reason", "description"})

_TRUE = {"true", "yes", "y", "1", "ya", "on"}
_FALSE = {"false", "no", "n", "0", "tidak", "off"}


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _to_bool(value: Any) -> Any:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        if low == "":
            return None
    return value


def _split_tags(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in re.split(r"[;,]", value) if t.strip()]
    return value


def _parse_capacity(value: Any) -> Any:
    """``1000000000``, ``"1G"``, ``"100M"``, ``"10 Gbps"`` → bits per second."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:bps|b/s)?\s*", value)
        if not m:
            raise ValueError("expected bits per second, e.g. 1000000000 or 1G or 100M")
        factor = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}[m.group(2).lower()]
        return int(float(m.group(1)) * factor)
    return value


OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptFloat = Annotated[float | None, BeforeValidator(_blank_to_none)]
OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptBool = Annotated[bool | None, BeforeValidator(_to_bool)]
Tags = Annotated[
    list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]], BeforeValidator(_split_tags)
]
Slug = Annotated[str, Field(pattern=SLUG)]
OptSlug = Annotated[str | None, BeforeValidator(_blank_to_none), Field(pattern=SLUG)]
OptDatetime = Annotated[datetime | None, BeforeValidator(_blank_to_none)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-01-31T08:00:00+07:00 or …Z")
    return value.astimezone(UTC)


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` is refused (NUL or another control character), or None when it is clean.

    Names and ids must be printable; ``multiline`` text may also hold tabs and line breaks.
    """
    allowed = "\t\n\r" if multiline else ""
    for position, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in allowed:
            return (
                f"contains the control character U+{ord(char):04X} at position {position}; "
                "remove it (names and ids must be printable text)"
            )
    return None


def refuse_control_characters(value: Any, field_name: str) -> Any:
    """Raise ValueError when a string (or a list of them) in ``field_name`` holds one."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            why = control_character(text, multiline=field_name in MULTILINE_FIELDS)
            if why:
                raise ValueError(why)
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_control_characters(value, info.field_name or "")


class RegionIn(Strict):
    code: Annotated[str, Field(pattern=REGION_CODE)]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    level: RegionLevel
    parent_code: OptStr = None
    lat: OptFloat = Field(default=None, ge=-90, le=90)
    lon: OptFloat = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _consistent(self) -> RegionIn:
        depth = self.code.count(".") + 1
        expected = {
            1: {RegionLevel.PROVINSI},
            2: {RegionLevel.KABUPATEN, RegionLevel.KOTA},
            3: {RegionLevel.KECAMATAN},
            4: {RegionLevel.DESA, RegionLevel.KELURAHAN},
        }[depth]
        if self.level not in expected:
            raise ValueError(
                f"level {self.level.value!r} does not fit code {self.code} "
                f"(expected {' or '.join(sorted(e.value for e in expected))})"
            )
        parent = self.code.rsplit(".", 1)[0] if depth > 1 else None
        if self.parent_code is None:
            self.parent_code = parent
        elif self.parent_code != parent:
            raise ValueError(f"parent_code {self.parent_code} does not match code {self.code}")
        return self


class FacilityIn(Strict):
    """One attested facility fact."""

    value: int | bool
    attested_by: OptStr = None
    attested_at: OptDatetime = None
    evidence: OptStr = None
    expires_at: OptDatetime = None

    _tz = field_validator("attested_at", "expires_at")(lambda v: _utc(v))


class SiteIn(Strict):
    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=160)]
    kind: SiteKind
    village: Annotated[str, Field(pattern=REGION_CODE)]
    status: SiteStatus = SiteStatus.ACTIVE
    lat: OptFloat = Field(default=None, ge=-90, le=90)
    lon: OptFloat = Field(default=None, ge=-180, le=180)
    address: OptStr = None
    tags: Tags = Field(default_factory=list)
    facilities: dict[Facility, FacilityIn | bool | int | None] = Field(default_factory=dict)
    # Defaults for every facility of this site (and the CSV columns).
    attested_by: OptStr = None
    attested_at: OptDatetime = None
    evidence: OptStr = None
    attestation_expires: OptDatetime = None

    _tz = field_validator("attested_at", "attestation_expires")(lambda v: _utc(v))

    @model_validator(mode="before")
    @classmethod
    def _flat_facilities(cls, data: Any) -> Any:
        """CSV rows carry facilities as flat columns (``reading_corner``, …)."""
        if isinstance(data, dict):
            flat = {f.value for f in Facility} & set(data)
            if flat:
                data = dict(data)
                facilities = dict(data.get("facilities") or {})
                for key in flat:
                    value = _to_bool(_blank_to_none(data.pop(key)))
                    if value is not None:
                        facilities[key] = value
                data["facilities"] = facilities
        return data

    @field_validator("facilities")
    @classmethod
    def _facility_values(
        cls, value: dict[Facility, FacilityIn | bool | int | None]
    ) -> dict[Facility, FacilityIn | bool | int | None]:
        for key, fact in value.items():
            raw = fact.value if isinstance(fact, FacilityIn) else fact
            if raw is None:
                continue
            if isinstance(raw, int) and not isinstance(raw, bool) and raw < 0:
                raise ValueError(f"{key.value}: must not be negative")
        return value

    def facility_rows(self) -> list[dict[str, Any]]:
        """The ``site_facilities`` rows this site declares."""
        rows = []
        for key, fact in sorted(self.facilities.items()):
            if fact is None:
                continue
            if isinstance(fact, FacilityIn):
                rows.append(
                    {
                        "site_id": self.id,
                        "facility": key.value,
                        "value": int(fact.value),
                        "attested_by": fact.attested_by or self.attested_by,
                        "attested_at": fact.attested_at or self.attested_at,
                        "evidence": fact.evidence or self.evidence,
                        "expires_at": fact.expires_at or self.attestation_expires,
                    }
                )
            else:
                rows.append(
                    {
                        "site_id": self.id,
                        "facility": key.value,
                        "value": int(fact),
                        "attested_by": self.attested_by,
                        "attested_at": self.attested_at,
                        "evidence": self.evidence,
                        "expires_at": self.attestation_expires,
                    }
                )
        return rows


_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def check_address(value: str) -> str:
    """A management address, normalised; ValueError naming it when it is not an IP."""
    value = value.strip()
    if _IPV4.fullmatch(value):
        return value
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


class DeviceIn(Strict):
    id: Slug
    site: Slug
    role: DeviceRole
    address: Annotated[str, BeforeValidator(lambda v: check_address(str(v)))]
    snmp: OptSlug = None
    ssh: OptSlug = None
    snmp_port: Annotated[int, BeforeValidator(lambda v: 161 if v in (None, "") else v)] = Field(
        default=161, ge=1, le=65535
    )
    ssh_port: Annotated[int, BeforeValidator(lambda v: 22 if v in (None, "") else v)] = Field(
        default=22, ge=1, le=65535
    )
    device_type: Annotated[str | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, pattern=r"^[a-z0-9_]{1,64}$"
    )
    vendor: OptStr = None
    model: OptStr = None
    parent: OptSlug = None
    poll_interval: OptFloat = Field(default=None, ge=5, le=86400)
    enabled: Annotated[
        bool, BeforeValidator(lambda v: True if v in (None, "") else _to_bool(v))
    ] = True
    tags: Tags = Field(default_factory=list)


class LinkEnd(Strict):
    device: Slug
    interface: Annotated[str, Field(pattern=INTERFACE)]


class LinkIn(Strict):
    id: Slug
    medium: LinkMedium
    a: LinkEnd
    z: LinkEnd
    provider: OptStr = None
    capacity_bps: Annotated[int | None, BeforeValidator(_parse_capacity)] = Field(
        default=None, ge=0
    )
    length_m: OptFloat = Field(default=None, ge=0)
    uplink_of: OptSlug = None

    @model_validator(mode="before")
    @classmethod
    def _flat_ends(cls, data: Any) -> Any:
        """CSV rows carry ``a_device``/``a_interface``/``z_device``/``z_interface``;
        YAML may say ``capacity`` for ``capacity_bps``."""
        if isinstance(data, dict):
            data = dict(data)
            for end in ("a", "z"):
                if f"{end}_device" in data or f"{end}_interface" in data:
                    data[end] = {
                        "device": data.pop(f"{end}_device", None),
                        "interface": data.pop(f"{end}_interface", None),
                    }
            if "capacity" in data and "capacity_bps" not in data:
                data["capacity_bps"] = data.pop("capacity")
        return data

    @model_validator(mode="after")
    def _distinct_ends(self) -> LinkIn:
        if self.a.device == self.z.device:
            raise ValueError(f"both ends are the same device {self.a.device!r}")
        return self


class _NoInlineSecrets(Strict):
    """Keys that would put a secret inline: each one given is refused on its own (so every
    inline secret of a line is reported, not only the first), and its value never echoed."""

    community: Any = Field(default=None, exclude=True)
    auth_key: Any = Field(default=None, exclude=True)
    priv_key: Any = Field(default=None, exclude=True)
    auth_password: Any = Field(default=None, exclude=True)
    priv_password: Any = Field(default=None, exclude=True)
    password: Any = Field(default=None, exclude=True)
    private_key: Any = Field(default=None, exclude=True)
    secret: Any = Field(default=None, exclude=True)
    token: Any = Field(default=None, exclude=True)

    @field_validator(*INLINE_SECRETS, mode="before")
    @classmethod
    def _inline(cls, value: Any, info: ValidationInfo) -> Any:
        key = info.field_name or "-"
        raise ValueError(
            f"secret written inline in {key!r}: secrets are never stored; "
            f"use {INLINE_SECRETS[key]}"
        )


EnvName = Annotated[str | None, BeforeValidator(_blank_to_none), Field(pattern=ENV_NAME)]


def _networks(value: Any) -> Any:
    """``allowed_networks``: a list of CIDR networks (a CSV cell may list them separated by
    spaces or commas); each is normalised, host bits refused (``10.35.0.1/16`` is a typo)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,]+", value) if v]
    if not isinstance(value, list) or not value:
        raise ValueError("allowed_networks must be a non-empty list of networks, "
                         "e.g. [10.35.0.0/16]")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_network(str(item), strict=True)))
        except ValueError as exc:
            raise ValueError(f"allowed_networks: {item!r} is not a network ({exc}); "
                             f"write it as 10.35.0.0/16") from None
    return out


AllowedNetworks = Annotated[list[str] | None, BeforeValidator(_networks)]


class SnmpProfileIn(_NoInlineSecrets):
    name: Slug
    version: Annotated[SnmpVersion, BeforeValidator(lambda v: str(v).lower().lstrip("v"))]
    community_env: EnvName = None
    community_file: OptStr = None
    user: OptStr = None
    auth: Annotated[
        SnmpAuth | None,
        BeforeValidator(lambda v: _blank_to_none(v) and str(v).lower().replace("-", "")),
    ] = None
    auth_key_env: EnvName = None
    auth_key_file: OptStr = None
    priv: Annotated[
        SnmpPriv | None,
        BeforeValidator(
            lambda v: _blank_to_none(v) and str(v).lower().replace("-", "").replace("aes128", "aes")
        ),
    ] = None
    priv_key_env: EnvName = None
    priv_key_file: OptStr = None
    allowed_networks: AllowedNetworks = None

    @model_validator(mode="after")
    def _complete(self) -> SnmpProfileIn:
        if self.version == SnmpVersion.V2C:
            if not (self.community_env or self.community_file):
                raise ValueError("SNMP v2c needs community_env or community_file")
        else:
            if not self.user:
                raise ValueError("SNMPv3 needs a user")
            if self.auth and not (self.auth_key_env or self.auth_key_file):
                raise ValueError("auth is set: give auth_key_env or auth_key_file")
            if self.priv and not self.auth:
                raise ValueError("priv needs auth (authPriv)")
            if self.priv and not (self.priv_key_env or self.priv_key_file):
                raise ValueError("priv is set: give priv_key_env or priv_key_file")
        return self


class SshProfileIn(_NoInlineSecrets):
    name: Slug
    username: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
    key_file: OptStr = None
    password_env: EnvName = None
    password_file: OptStr = None
    known_hosts_file: OptStr = None
    allowed_networks: AllowedNetworks = None

    @model_validator(mode="after")
    def _complete(self) -> SshProfileIn:
        if not (self.key_file or self.password_env or self.password_file):
            raise ValueError("give key_file, password_env or password_file")
        return self


class MaintenanceIn(Strict):
    id: Slug
    scope: MaintenanceScope
    target: Annotated[str, Field(min_length=1, max_length=64)]
    starts_at: OptDatetime = None
    ends_at: OptDatetime = None
    weekdays: OptStr = None
    start_time: Annotated[str | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$"
    )
    duration_minutes: OptInt = Field(default=None, ge=1, le=7 * 24 * 60)
    reason: OptStr = None

    _tz = field_validator("starts_at", "ends_at")(lambda v: _utc(v))

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceIn:
        from inventory.maintenance import parse_weekdays

        one_off = self.starts_at is not None or self.ends_at is not None
        recurring = self.start_time is not None or self.duration_minutes is not None
        if one_off == recurring:
            raise ValueError(
                "give either starts_at and ends_at (one-off) or start_time and "
                "duration_minutes (recurring weekly, in WIB)"
            )
        if one_off:
            if self.starts_at is None or self.ends_at is None:
                raise ValueError("a one-off window needs both starts_at and ends_at")
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
        else:
            if self.start_time is None or self.duration_minutes is None:
                raise ValueError("a recurring window needs start_time and duration_minutes")
            parse_weekdays(self.weekdays)
        return self
