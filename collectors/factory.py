"""The one place that builds a protocol's collector from settings.

The scheduler (every poll) and ``/probe`` (one poll on Prometheus's request) both call
:func:`make_collector`, so a probe over SSH checks the same known_hosts, reads the same
kiosk root and waits the same timeouts as the poller does.
"""

from __future__ import annotations

from collectors.base import Collector
from core.settings import Settings

PROTOCOLS = ("snmp", "ssh")


def make_collector(
    protocol: str, settings: Settings, *, snmp_concurrency: int | None = None
) -> Collector:
    """A new collector of ``protocol`` (``snmp`` or ``ssh``) configured from ``settings``;
    ``snmp_concurrency`` overrides
    ``settings.poll_concurrency`` (a probe polls one device)."""
    if protocol == "snmp":
        from collectors.snmp import SnmpCollector

        concurrency = snmp_concurrency or int(settings.poll_concurrency)
        return SnmpCollector(max_concurrency=max(1, concurrency))
    if protocol == "ssh":
        from collectors.ssh import SshCollector

        return SshCollector(
            workers=settings.ssh_workers,
            known_hosts=str(settings.ssh_known_hosts) if settings.ssh_known_hosts else None,
            timeout=max(settings.poll_timeout_seconds, 5.0),
            kiosk_root=settings.kiosk_root,
            kiosk_service=settings.kiosk_service,
        )
    raise ValueError(f"unknown collector protocol {protocol!r}; expected one of {PROTOCOLS}")


def default_collectors(settings: Settings) -> dict[str, Collector]:
    """The SNMP and SSH collectors the scheduler polls with."""
    return {protocol: make_collector(protocol, settings) for protocol in PROTOCOLS}
