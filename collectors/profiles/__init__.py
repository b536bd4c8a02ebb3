"""Vendor profiles as data: YAML files that say what to read from a device and how.

A profile matches a device by its sysObjectID (prefixes; sysDescr patterns where one
sysObjectID covers several products) and declares scalars and tables, value types, scaling,
units, index parsing, lookups (names from another column) and thresholds. Adding a vendor
needs a YAML file, no code. The shipped profiles live beside this module; a user directory
(``KENTONGAN_PROFILES_DIR``) adds profiles or replaces shipped ones of the same name.
The format is documented in ``docs/snmp.md`` ("Vendor profiles").

This module holds the schema (:class:`Profile`), the loader (:func:`load_profiles`), the
selection (:meth:`ProfileSet.select`) and the evaluation of raw SNMP values
(:func:`evaluate_table`, :func:`evaluate_scalar`). Walking is the SNMP collector's job.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from collectors import ber
from collectors.base import CollectorError, SensorKind, SensorSample

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent
PROFILES_DIR_ENV = "KENTONGAN_PROFILES_DIR"
GPON_RX_LOW_DBM = -27.0
"""GPON class B+ receiver sensitivity: the default low Rx threshold."""
GPON_RX_HIGH_DBM = -8.0
"""GPON class B+ overload: the default high Rx threshold."""
_OID_RE = re.compile(r"^\.?[0-9]+(\.[0-9]+)*$")


class ProfileError(CollectorError, ValueError):
    """A profile file is invalid (the message names the file and the field)."""


class Convert(StrEnum):
    """How a scaled number becomes the kind's unit."""

    LINEAR = "linear"
    UW_TO_DBM = "uw_to_dbm"
    MW_TO_DBM = "mw_to_dbm"


class IndexPart(StrEnum):
    """How a table's index sub-identifiers are parsed (in order)."""

    INTEGER = "integer"
    STRING = "string"  # length-prefixed OCTET STRING
    MAC = "mac"  # six sub-identifiers
    IPV4 = "ipv4"  # four sub-identifiers
    REST = "rest"  # whatever is left, dotted


def _oid(value: str) -> str:
    if not _OID_RE.match(value):
        raise ValueError(f"not a numeric OID: {value!r}")
    return value.lstrip(".")


NumericOid = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """Which devices a profile applies to: any sysObjectID prefix, and (if given) any
    sysDescr pattern (Python regular expression, searched)."""

    sys_object_id: list[NumericOid] = Field(default_factory=list)
    sys_descr: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    """Device roles that use this profile when no sysObjectID/sysDescr profile matched."""

    @field_validator("sys_object_id")
    @classmethod
    def _oids(cls, v: list[str]) -> list[str]:
        return [_oid(o) for o in v]

    @field_validator("sys_descr")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            re.compile(p)
        return v


class KindScale(_Strict):
    """One entry of :class:`KindFrom`: the kind and the scale of rows with that code."""

    kind: SensorKind
    scale: float = 1.0


class KindFrom(_Strict):
    """The kind (and extra scale) of each row taken from a column, e.g. a unit column."""

    column: NumericOid
    map: dict[int, KindScale]


class Reading(_Strict):
    """One value: a scalar instance OID, or a column of the table it is declared in.

    The raw value (a number, or a string holding a number) becomes
    ``(raw / divide_by) * scale * 10**scale_exponent * 10**-precision + offset`` and then goes
    through ``convert``. Raw values in ``absent`` mean "nothing here" (no module, no sensor)
    and give no sample; raw values in ``no_signal`` give a sample with value ``None`` (no
    light, no carrier). ``states`` maps raw codes to words for ``kind: state``.
    """

    kind: SensorKind | None = None
    kind_from: KindFrom | None = None
    oid: NumericOid
    name: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    convert: Convert = Convert.LINEAR
    divide_by: NumericOid | None = None
    scale_from: NumericOid | None = None
    precision_from: NumericOid | None = None
    absent: list[float] = Field(default_factory=list)
    no_signal: list[float] = Field(default_factory=list)
    states: dict[int, str] = Field(default_factory=dict)
    low: float | None = None
    high: float | None = None

    @field_validator("oid", "divide_by", "scale_from", "precision_from")
    @classmethod
    def _oids(cls, v: str | None) -> str | None:
        return None if v is None else _oid(v)

    @model_validator(mode="after")
    def _one_kind(self) -> Reading:
        if (self.kind is None) == (self.kind_from is None):
            raise ValueError("give exactly one of 'kind' and 'kind_from'")
        return self


class Lookup(_Strict):
    """A column (same index) whose text names each row: ``name: "{descr} Rx"``."""

    oid: NumericOid
    index_from: int | None = None
    """Use only the first N index parts to find the row (e.g. the PON port of an ONU row)."""

    @field_validator("oid")
    @classmethod
    def _oids(cls, v: str) -> str:
        return _oid(v)


class Where(_Strict):
    """Keep only rows whose column has one of ``equals`` (numbers, strings or OIDs)."""

    oid: NumericOid
    equals: list[int | str]


class Table(_Strict):
    """A conceptual table: its entry OID, index parsing, lookups, filters and readings.

    Reading and lookup OIDs may be relative to the entry (``"8"`` means ``entry.8``).
    """

    name: str
    oid: NumericOid
    index: list[IndexPart] = Field(default_factory=lambda: [IndexPart.INTEGER])
    label: str = "{index}"
    lookups: dict[str, Lookup] = Field(default_factory=dict)
    where: list[Where] = Field(default_factory=list)
    readings: list[Reading]
    interval: float | None = None
    """Walk at most this often (seconds): ONU tables load OLT CPUs (default 300 s)."""

    @field_validator("oid")
    @classmethod
    def _oids(cls, v: str) -> str:
        return _oid(v)


class Profile(_Strict):
    """One vendor profile (one YAML file)."""

    name: str
    description: str
    mibs: list[str] = Field(default_factory=list)
    match: Match = Field(default_factory=Match)
    priority: int = 10
    include: list[str] = Field(default_factory=list)
    scalars: list[Reading] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)

    def column_oid(self, table: Table, oid: str) -> str:
        """A column OID of ``table``, absolute (``"8"`` → ``table.oid + ".8"``)."""
        return oid if oid.count(".") >= 4 else f"{table.oid}.{oid}"


@dataclass(frozen=True, slots=True)
class ProfileSet:
    """The loaded profiles, by name."""

    profiles: Mapping[str, Profile]

    @classmethod
    def empty(cls) -> ProfileSet:
        """No profiles (the collector then reads only its built-in modules)."""
        return cls({})

    def select(
        self, sys_object_id: str | None, sys_descr: str | None, role: str | None = None
    ) -> Profile | None:
        """The best matching profile: longest sysObjectID prefix, then priority; else the
        highest-priority profile for ``role`` (``match.roles``)."""
        best: tuple[int, int] | None = None
        found: Profile | None = None
        oid = (sys_object_id or "").lstrip(".")
        for p in self.profiles.values():
            m = p.match
            if not m.sys_object_id and not m.sys_descr:
                continue
            length = 0
            if m.sys_object_id:
                hits = [len(x) for x in m.sys_object_id if oid == x or oid.startswith(x + ".")]
                if not hits:
                    continue
                length = max(hits)
            if m.sys_descr and not any(re.search(r, sys_descr or "") for r in m.sys_descr):
                continue
            key = (length, p.priority)
            if best is None or key > best:
                best, found = key, p
        if found is None and role is not None:
            by_role = [p for p in self.profiles.values() if role in p.match.roles]
            if by_role:
                found = max(by_role, key=lambda p: p.priority)
        return found

    def expand(self, profile: Profile) -> list[Profile]:
        """``profile`` and the profiles it includes (depth first, each once)."""
        out: list[Profile] = []
        seen: set[str] = set()

        def visit(p: Profile) -> None:
            if p.name in seen:
                return
            seen.add(p.name)
            out.append(p)
            for name in p.include:
                inc = self.profiles.get(name)
                if inc is None:
                    raise ProfileError(f"profile {p.name!r} includes unknown profile {name!r}")
                visit(inc)

        visit(profile)
        return out


def load_profile_file(path: Path) -> Profile:
    """Read and validate one YAML profile.

    Raises:
        ProfileError: the file is not YAML or does not follow the schema (names the field).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a mapping (name:, description:, match:, …)")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ProfileError(
            f"{path}: {where}: {first['msg']} (see docs/snmp.md, 'Vendor profiles')"
        ) from exc


def load_profiles(
    dirs: Sequence[Path] | None = None, *, user_dir: str | os.PathLike[str] | None = None
) -> ProfileSet:
    """Load the shipped profiles and the user directory (later files replace by name).

    Args:
        dirs: directories to read (default: the shipped profiles).
        user_dir: an extra directory (default: ``$KENTONGAN_PROFILES_DIR`` when set).

    Raises:
        ProfileError: a file is invalid, the user directory is missing, or an include
            names an unknown profile.
    """
    paths = list(dirs) if dirs is not None else [SHIPPED_DIR]
    extra = user_dir if user_dir is not None else os.environ.get(PROFILES_DIR_ENV)
    if extra:
        extra_path = Path(extra)
        if not extra_path.is_dir():
            raise ProfileError(f"{PROFILES_DIR_ENV}={extra}: not a directory")
        paths.append(extra_path)
    profiles: dict[str, Profile] = {}
    for d in paths:
        for f in sorted(d.glob("*.y*ml")):
            p = load_profile_file(f)
            profiles[p.name] = p
    out = ProfileSet(profiles)
    for p in profiles.values():
        out.expand(p)
    return out


@functools.lru_cache(maxsize=4)
def _cached_default(user_dir: str) -> ProfileSet:
    return load_profiles(user_dir=user_dir)


def default_profiles() -> ProfileSet:
    """The shipped profiles plus ``$KENTONGAN_PROFILES_DIR``, loaded once per directory."""
    return _cached_default(os.environ.get(PROFILES_DIR_ENV, ""))


# --------------------------------------------------------------------------- evaluation


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, bytes):
        text = raw.decode("ascii", "replace").strip()
        m = re.match(r"^[-+]?[0-9]*\.?[0-9]+", text)
        return float(m.group(0)) if m else None
    return None


def _text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").strip().strip("\x00")
    if isinstance(raw, tuple):
        return ".".join(map(str, raw))
    return "" if raw is None else str(raw)


def scale_value(
    reading: Reading,
    raw: object,
    *,
    extra_scale: float = 1.0,
    divisor: object = None,
    exponent: object = None,
    precision: object = None,
) -> float | None:
    """The value of ``raw`` after ``reading``'s scaling and conversion (``None``: absent)."""
    v = _number(raw)
    if v is None or v in reading.absent or v in reading.no_signal:
        return None
    if reading.divide_by is not None:
        d = _number(divisor)
        if not d:
            return None
        v = v / d
    v = v * reading.scale * extra_scale
    if exponent is not None:
        e = _number(exponent)
        if e is not None:  # EntitySensorDataScale: units(9) = 10^0, milli(8) = 10^-3, …
            v *= 10.0 ** (3 * (int(e) - 9))
    if precision is not None:
        p = _number(precision)
        if p is not None:
            v /= 10.0 ** int(p)
    v += reading.offset
    if reading.convert is Convert.UW_TO_DBM:
        return 10.0 * math.log10(v / 1000.0) if v > 0 else None
    if reading.convert is Convert.MW_TO_DBM:
        return 10.0 * math.log10(v) if v > 0 else None
    return v


def parse_index(parts: Sequence[IndexPart], sub: Sequence[int]) -> list[str] | None:
    """Index sub-identifiers as text, one element per declared part (``None``: no match)."""
    out: list[str] = []
    i = 0
    for part in parts:
        if part is IndexPart.INTEGER:
            if i >= len(sub):
                return None
            out.append(str(sub[i]))
            i += 1
        elif part is IndexPart.STRING:
            if i >= len(sub) or i + 1 + sub[i] > len(sub):
                return None
            n = sub[i]
            out.append(bytes(x & 0xFF for x in sub[i + 1 : i + 1 + n]).decode("utf-8", "replace"))
            i += 1 + n
        elif part is IndexPart.MAC:
            if i + 6 > len(sub):
                return None
            out.append(":".join(f"{x:02x}" for x in sub[i : i + 6]))
            i += 6
        elif part is IndexPart.IPV4:
            if i + 4 > len(sub):
                return None
            out.append(".".join(map(str, sub[i : i + 4])))
            i += 4
        else:
            out.append(".".join(map(str, sub[i:])))
            i = len(sub)
    return out if i == len(sub) else None


def default_thresholds(kind: SensorKind) -> tuple[float | None, float | None]:
    """Thresholds used when a profile gives none: GPON class B+ for optical Rx."""
    if kind is SensorKind.OPTICAL_RX:
        return GPON_RX_LOW_DBM, GPON_RX_HIGH_DBM
    return None, None


def table_columns(profile: Profile, table: Table) -> list[str]:
    """The column OIDs a table's values need (readings, their helpers, filters), absolute,
    each once, in order. Lookups are apart: :func:`lookup_columns`."""
    cols: list[str] = []
    for r in table.readings:
        cols.append(profile.column_oid(table, r.oid))
        for extra in (r.divide_by, r.scale_from, r.precision_from):
            if extra is not None:
                cols.append(profile.column_oid(table, extra))
        if r.kind_from is not None:
            cols.append(profile.column_oid(table, r.kind_from.column))
    for w in table.where:
        cols.append(profile.column_oid(table, w.oid))
    return list(dict.fromkeys(cols))


def lookup_columns(profile: Profile, table: Table) -> dict[str, str]:
    """Lookup name → absolute column OID (names change rarely: walked with slow columns)."""
    return {k: profile.column_oid(table, lk.oid) for k, lk in table.lookups.items()}


def _matches(raw: object, wanted: Iterable[int | str]) -> bool:
    text = _text(raw)
    for w in wanted:
        if isinstance(w, int) and not isinstance(raw, bytes | tuple) and raw == w:
            return True
        if str(w).lstrip(".") == text:
            return True
    return False


def evaluate_table(
    profile: Profile,
    table: Table,
    columns: Mapping[str, Mapping[tuple[int, ...], object]],
    lookups: Mapping[str, Mapping[tuple[int, ...], object]] | None = None,
) -> list[SensorSample]:
    """Sensor samples of one walked table.

    Args:
        columns: absolute column OID → row index (sub-identifiers) → raw value.
        lookups: lookup name → row index → raw value (a lookup with ``index_from: N`` is
            found at the first N sub-identifiers of the row's index).
    """
    out: list[SensorSample] = []
    rows: set[tuple[int, ...]] = set()
    for r in table.readings:
        rows.update(columns.get(profile.column_oid(table, r.oid), {}))
    for idx in sorted(rows):
        parts = parse_index(table.index, idx)
        if parts is None:
            continue
        if any(
            not _matches(columns.get(profile.column_oid(table, w.oid), {}).get(idx), w.equals)
            for w in table.where
        ):
            continue
        names: dict[str, str] = {"index": ".".join(parts)}
        for i, p in enumerate(parts):
            names[f"index{i + 1}"] = p
        for key, lk in table.lookups.items():
            src = (lookups or {}).get(key, {})
            names[key] = _text(src.get(idx if lk.index_from is None else idx[: lk.index_from]))
        for r in table.readings:
            raw = columns.get(profile.column_oid(table, r.oid), {}).get(idx)
            if raw is None:
                continue
            sample = _sample(profile, table, r, raw, idx, names, columns)
            if sample is not None:
                out.append(sample)
    return out


def _col(
    profile: Profile,
    table: Table,
    columns: Mapping[str, Mapping[tuple[int, ...], object]],
    oid: str | None,
    idx: tuple[int, ...],
) -> object:
    if oid is None:
        return None
    return columns.get(profile.column_oid(table, oid), {}).get(idx)


def _sample(
    profile: Profile,
    table: Table,
    r: Reading,
    raw: object,
    idx: tuple[int, ...],
    names: Mapping[str, str],
    columns: Mapping[str, Mapping[tuple[int, ...], object]],
) -> SensorSample | None:
    if _number(raw) in r.absent:
        return None
    oid = profile.column_oid(table, r.oid) + "." + ".".join(map(str, idx))
    extra = 1.0
    kind = r.kind
    if r.kind_from is not None:
        code = _number(_col(profile, table, columns, r.kind_from.column, idx))
        ks = r.kind_from.map.get(int(code)) if code is not None else None
        if ks is None:
            return None
        kind, extra = ks.kind, ks.scale
    assert kind is not None
    label = (r.name or table.label).format_map(_Names(names))
    if kind is SensorKind.STATE:
        code = _number(raw)
        state = r.states.get(int(code)) if code is not None else None
        return SensorSample(
            kind,
            label,
            code,
            profile.name,
            table.name,
            names["index"],
            state=state or ("unknown" if code is None else f"code_{int(code)}"),
            oid=oid,
        )
    value = scale_value(
        r,
        raw,
        extra_scale=extra,
        divisor=_col(profile, table, columns, r.divide_by, idx),
        exponent=_col(profile, table, columns, r.scale_from, idx),
        precision=_col(profile, table, columns, r.precision_from, idx),
    )
    low, high = default_thresholds(kind)
    return SensorSample(
        kind,
        label,
        value,
        profile.name,
        table.name,
        names["index"],
        low=r.low if r.low is not None else low,
        high=r.high if r.high is not None else high,
        oid=oid,
    )


class _Names(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def evaluate_scalar(
    profile: Profile, r: Reading, raw: object, helpers: Mapping[str, object] | None = None
) -> SensorSample | None:
    """The sample of a scalar reading (``helpers``: values of its ``divide_by`` etc.)."""
    h = helpers or {}
    if r.kind is None or _number(raw) in r.absent:
        return None
    name = r.name or r.kind.value
    if r.kind is SensorKind.STATE:
        code = _number(raw)
        state = r.states.get(int(code)) if code is not None else None
        return SensorSample(
            r.kind,
            name,
            code,
            profile.name,
            "scalars",
            "",
            state=state or ("unknown" if code is None else f"code_{int(code)}"),
            oid=r.oid,
        )
    value = scale_value(r, raw, divisor=h.get(r.divide_by or ""))
    low, high = default_thresholds(r.kind)
    return SensorSample(
        r.kind,
        name,
        value,
        profile.name,
        "scalars",
        "",
        low=r.low if r.low is not None else low,
        high=r.high if r.high is not None else high,
        oid=r.oid,
    )


def scalar_oids(profile: Profile) -> list[str]:
    """Every instance OID the profile's scalars need."""
    out: list[str] = []
    for r in profile.scalars:
        out.append(r.oid)
        if r.divide_by is not None:
            out.append(r.divide_by)
    return list(dict.fromkeys(out))


def encoded(oid: str) -> bytes:
    """``oid`` BER-encoded (for the collector)."""
    return ber.oid(oid)
