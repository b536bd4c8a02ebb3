"""What to poll, as data: SNMP modules chosen by device role, and the encoded plan of a role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collectors import ber
from collectors.base import CollectorError


@dataclass(frozen=True, slots=True)
class SnmpModule:
    """One group of objects to poll, as data.

    Attributes:
        name: module name.
        roles: device roles it applies to (``None``: every role).
        scalars: ``(field, instance OID)`` fetched every poll.
        columns: ``(field, column OID)`` walked every poll.
        slow_columns: ``(field, column OID)`` walked only when the per-device cache is due.
        row_key: ``(column OID, value)`` selecting one row (cached, refreshed with the slow
            columns), whose ``row_columns`` are then fetched by GET every poll.
        row_columns: ``(field, column OID)`` read at the selected row.
    """

    name: str
    roles: frozenset[str] | None
    scalars: tuple[tuple[str, str], ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    slow_columns: tuple[tuple[str, str], ...] = ()
    row_key: tuple[str, bytes] | None = None
    row_columns: tuple[tuple[str, str], ...] = ()


def _extend_output_oid(name: str) -> str:
    """nsExtendOutput1Line.<name> (NET-SNMP-EXTEND-MIB, string index with length prefix)."""
    raw = name.encode()
    return "1.3.6.1.4.1.8072.1.3.2.3.1.1." + ".".join(map(str, (len(raw), *raw)))


IF_ROLES = frozenset({"router", "switch", "olt", "ont", "access_point", "ups", "server"})
"""Roles whose interfaces are polled (UPS and server agents often have a network card)."""

IF_HC_FIELDS = ("in_octets", "out_octets", "high_speed_mbps")
"""ifXTable columns; a device without ifXTable is read from :data:`IF_32_FIELDS` instead."""
IF_32_FIELDS = ("in_octets_32", "out_octets_32", "speed_bps")
"""ifTable's 32-bit octet counters and ifSpeed (bits/s), the fallback of :data:`IF_HC_FIELDS`."""

MODULES: tuple[SnmpModule, ...] = (
    SnmpModule(
        "system",
        None,
        scalars=(
            ("sys_uptime", "1.3.6.1.2.1.1.3.0"),
            ("sys_name", "1.3.6.1.2.1.1.5.0"),
            ("sys_descr", "1.3.6.1.2.1.1.1.0"),
            ("sys_object_id", "1.3.6.1.2.1.1.2.0"),
        ),
    ),
    SnmpModule(
        "if_mib",
        IF_ROLES,
        columns=(
            ("admin_status", "1.3.6.1.2.1.2.2.1.7"),
            ("oper_status", "1.3.6.1.2.1.2.2.1.8"),
            ("in_discards", "1.3.6.1.2.1.2.2.1.13"),
            ("in_errors", "1.3.6.1.2.1.2.2.1.14"),
            ("out_discards", "1.3.6.1.2.1.2.2.1.19"),
            ("out_errors", "1.3.6.1.2.1.2.2.1.20"),
            ("in_octets", "1.3.6.1.2.1.31.1.1.1.6"),
            ("out_octets", "1.3.6.1.2.1.31.1.1.1.10"),
            ("high_speed_mbps", "1.3.6.1.2.1.31.1.1.1.15"),
            ("in_octets_32", "1.3.6.1.2.1.2.2.1.10"),
            ("out_octets_32", "1.3.6.1.2.1.2.2.1.16"),
            ("speed_bps", "1.3.6.1.2.1.2.2.1.5"),
        ),
        slow_columns=(
            ("name", "1.3.6.1.2.1.31.1.1.1.1"),
            ("alias", "1.3.6.1.2.1.31.1.1.1.18"),
            ("descr", "1.3.6.1.2.1.2.2.1.2"),
        ),
    ),
    SnmpModule(
        "ups",
        frozenset({"ups"}),
        scalars=(
            ("ups_output_source", "1.3.6.1.2.1.33.1.4.1.0"),
            ("ups_charge_percent", "1.3.6.1.2.1.33.1.2.4.0"),
            ("ups_minutes_remaining", "1.3.6.1.2.1.33.1.2.3.0"),
        ),
    ),
    SnmpModule(
        "kiosk",
        frozenset({"kiosk"}),
        scalars=(
            ("hr_uptime", "1.3.6.1.2.1.25.1.1.0"),
            ("app_version", _extend_output_oid("kiosk-app-version")),
            ("app_active", _extend_output_oid("kiosk-app-active")),
        ),
        row_key=("1.3.6.1.2.1.25.2.3.1.3", b"/"),
        row_columns=(
            ("storage_units", "1.3.6.1.2.1.25.2.3.1.4"),
            ("storage_size", "1.3.6.1.2.1.25.2.3.1.5"),
            ("storage_used", "1.3.6.1.2.1.25.2.3.1.6"),
        ),
    ),
)


def modules_for(role: str) -> tuple[SnmpModule, ...]:
    """The modules polled for a device role."""
    return tuple(m for m in MODULES if m.roles is None or role in m.roles)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """The encoded OIDs of one role's modules, computed once per role."""

    scalar_fields: tuple[str, ...]
    scalar_oids: tuple[bytes, ...]
    column_fields: tuple[str, ...]
    column_oids: tuple[bytes, ...]
    slow_fields: tuple[str, ...]
    slow_oids: tuple[bytes, ...]
    row_key_oid: bytes | None
    row_key_value: bytes | None
    row_fields: tuple[str, ...]
    row_oids: tuple[bytes, ...]

    @classmethod
    def for_role(cls, role: str) -> PollPlan:
        """Build the plan of ``role`` from :data:`MODULES`."""
        mods = modules_for(role)
        scal = [s for m in mods for s in m.scalars]
        cols = [c for m in mods for c in m.columns]
        slow = [c for m in mods for c in m.slow_columns]
        keyed = [m for m in mods if m.row_key is not None]
        if len(keyed) > 1:
            raise CollectorError(f"role {role!r}: more than one module selects a row")
        row_mod = keyed[0] if keyed else None
        return cls(
            scalar_fields=tuple(f for f, _ in scal),
            scalar_oids=tuple(ber.oid(o) for _, o in scal),
            column_fields=tuple(f for f, _ in cols),
            column_oids=tuple(ber.oid(o) for _, o in cols),
            slow_fields=tuple(f for f, _ in slow),
            slow_oids=tuple(ber.oid(o) for _, o in slow),
            row_key_oid=ber.oid(row_mod.row_key[0]) if row_mod and row_mod.row_key else None,
            row_key_value=row_mod.row_key[1] if row_mod and row_mod.row_key else None,
            row_fields=tuple(f for f, _ in row_mod.row_columns) if row_mod else (),
            row_oids=tuple(ber.oid(o) for _, o in row_mod.row_columns) if row_mod else (),
        )


def plan_summary(role: str) -> Mapping[str, tuple[str, ...]]:
    """Field names polled for ``role`` (for docs and the CLI)."""
    p = PollPlan.for_role(role)
    return {
        "scalars": p.scalar_fields,
        "columns": p.column_fields,
        "slow_columns": p.slow_fields,
        "row_columns": p.row_fields,
    }
