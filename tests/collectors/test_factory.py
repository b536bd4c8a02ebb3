"""/probe and the scheduler build their collectors in one place, from the same settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.factory import make_collector
from collectors.probe import default_collector
from collectors.scheduler import default_collectors
from collectors.snmp import SnmpCollector
from collectors.ssh import SshCollector
from core.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'k.db'}",
        ssh_known_hosts=tmp_path / "known_hosts",
        kiosk_root="/srv/kiosk-test",
        kiosk_service="kiosk-test",
        ssh_workers=3,
        poll_timeout_seconds=7.5,
        poll_concurrency=9,
    )


def _ssh_config(c: object) -> tuple[object, ...]:
    assert isinstance(c, SshCollector)
    return (c.known_hosts, c.kiosk_root, c.kiosk_service, c.workers, c.timeout)


def test_probe_ssh_is_configured_like_the_scheduler(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    probed = default_collector("ssh", settings)
    polled = default_collectors(settings)["ssh"]
    expected = (str(tmp_path / "known_hosts"), "/srv/kiosk-test", "kiosk-test", 3, 7.5)
    assert _ssh_config(probed) == _ssh_config(polled) == expected


def test_probe_snmp_polls_one_device_at_a_time(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    probed = default_collector("snmp", settings)
    polled = make_collector("snmp", settings)
    assert isinstance(probed, SnmpCollector) and isinstance(polled, SnmpCollector)
    assert probed._max_concurrency == 1 and polled._max_concurrency == 9


def test_unknown_protocol_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown collector protocol 'icmp'"):
        make_collector("icmp", _settings(tmp_path))
