"""The SNMP collector: v2c and v3 (USM authPriv) over one shared asyncio UDP socket.

The package is split by concern (see ``docs/snmp.md``):

* :mod:`collectors.snmp.transport` — the :class:`Transport` protocol and the shared UDP socket;
* :mod:`collectors.snmp.session` — v2c and v3 (USM) message building and reading;
* :mod:`collectors.snmp.modules` — what to poll, as data, per device role;
* :mod:`collectors.snmp.collector` — :class:`SnmpCollector`, the poll itself.

Callers import from here: ``from collectors.snmp import SnmpCollector``.
"""

from __future__ import annotations

from collectors.snmp.collector import SnmpCollector
from collectors.snmp.modules import (
    IF_ROLES,
    MODULES,
    PollPlan,
    SnmpModule,
    modules_for,
    plan_summary,
)
from collectors.snmp.transport import PollFailed, SnmpTransport, Transport, UdpTransport

__all__ = [
    "IF_ROLES",
    "MODULES",
    "PollFailed",
    "PollPlan",
    "SnmpCollector",
    "SnmpModule",
    "SnmpTransport",
    "Transport",
    "UdpTransport",
    "modules_for",
    "plan_summary",
]
