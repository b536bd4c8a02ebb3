"""Fixtures of the poller's tests: a small seeded inventory and observation builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collectors.base import InterfaceSample, KioskSample, Observation
from inventory.db import session_scope
from inventory.models import Device, Link, Region, Site
from tests.collectors.sshd import SshLab, ssh_lab

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday, 07:00 WIB


def seed_inventory(engine: Engine) -> None:
    """NOC/PoP with an OLT; Kemiren village office behind fibre; a second village."""
    with session_scope(engine) as s:
        s.add_all(
            [
                Region(code="35", name="Jawa Timur", level="provinsi"),
                Region(code="35.10", name="Banyuwangi", level="kabupaten", parent_code="35"),
                Region(code="35.10.15", name="Glagah", level="kecamatan", parent_code="35.10"),
                Region(code="35.10.15.2004", name="Kemiren", level="desa",
                       parent_code="35.10.15"),
                Region(code="35.10.15.2005", name="Olehsari", level="desa",
                       parent_code="35.10.15"),
            ]
        )
        s.flush()
        s.add_all(
            [
                Site(id="pop-glagah", name="PoP Glagah", kind="pop",
                     village_code="35.10.15.2005", district_code="35.10.15"),
                Site(id="kantor-desa-kemiren", name="Kantor Desa Kemiren",
                     kind="village_office", village_code="35.10.15.2004",
                     district_code="35.10.15"),
            ]
        )
        s.flush()
        s.add_all(
            [
                Device(id="olt-glagah", site_id="pop-glagah", role="olt", address="127.0.0.1"),
                Device(id="rtr-kemiren", site_id="kantor-desa-kemiren", role="router",
                       address="127.0.0.1"),
                Device(id="kiosk-kemiren-1", site_id="kantor-desa-kemiren", role="kiosk",
                       address="127.0.0.1"),
            ]
        )
        s.flush()
        s.add(
            Link(id="fo-glagah-kemiren", medium="fibre", a_device="olt-glagah",
                 a_interface="gpon0/3", z_device="rtr-kemiren", z_interface="ether1",
                 uplink_of="kantor-desa-kemiren")
        )


def ok(device_id: str, **kw: Any) -> Observation:
    """A successful observation."""
    return Observation(device_id=device_id, protocol="snmp", ok=True, started_at=T0,
                       duration_seconds=0.01, **kw)


def fail(device_id: str, reason: str = "timeout") -> Observation:
    """A failed observation."""
    return Observation(device_id=device_id, protocol="snmp", ok=False, started_at=T0,
                       duration_seconds=2.0, reason=reason)


def iface(index: int, name: str, *, up: bool = True, **kw: Any) -> InterfaceSample:
    return InterfaceSample(index=index, name=name, admin_up=True, oper_up=up, **kw)


def kiosk_obs(device_id: str, version: str = "1.4.2") -> Observation:
    return Observation(device_id=device_id, protocol="ssh", ok=True, started_at=T0,
                       duration_seconds=0.5,
                       kiosk=KioskSample(app_version=version, app_active=True,
                                         disk_free_bytes=10, disk_total_bytes=100,
                                         uptime_seconds=1000.0))


def session(engine: Engine) -> Session:
    return Session(bind=engine, expire_on_commit=False)


@pytest.fixture(scope="session")
def ssh_lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """sshd on 127.0.2.x, a stalling server and a refused port, for the whole session."""
    with ssh_lab(tmp_path_factory.mktemp("sshd")) as lab:
        yield lab
