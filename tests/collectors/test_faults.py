"""Faults on demand against a real snmpsim fleet: a cut takes the A-end port down and the
devices behind silent, a repair undoes exactly that, overlapping faults hold until the last
one ends, mains loss puts the UPS on battery, and bad requests change nothing."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from collectors.simfleet import SimDevice, SimFleet, probe, start_fleet
from collectors.simfleet.faults import FaultError, FaultInjector, FaultKind
from inventory.topology import Topology

IF_OPER_1 = "1.3.6.1.2.1.2.2.1.8.1"
IF_OPER_3 = "1.3.6.1.2.1.2.2.1.8.3"
UPS_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"


def _get(fleet: SimFleet, device: str, oid: str) -> int | None:
    address, port, community = fleet.endpoints[device]
    out = subprocess.run(["/usr/bin/snmpget", "-v2c", "-c", community, "-On", "-Oqv", "-t", "1",
                          "-r", "0", f"{address}:{port}", oid],
                         capture_output=True, text=True, timeout=10)
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def _until(check: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _answers(fleet: SimFleet, device: str) -> bool:
    ep = fleet.endpoints[device]
    return probe(ep.address, ep.port, ep.community, timeout=0.5)


@pytest.fixture
def small_fleet(tmp_path: Path) -> SimFleet:
    devices = [SimDevice("olt-a", "olt", flap=False), SimDevice("rtr-v", "router", flap=False),
               SimDevice("kiosk-v-1", "kiosk"), SimDevice("ups-v", "ups", battery_period=1e9),
               SimDevice("rtr-w", "router", flap=False)]
    with start_fleet(devices, workdir=tmp_path / "fleet") as fleet:
        yield fleet


def _topology() -> Topology:
    return Topology(
        device_site={"olt-a": "pop", "rtr-v": "kantor-v", "kiosk-v-1": "kantor-v",
                     "ups-v": "kantor-v", "rtr-w": "kantor-w"},
        device_role={"olt-a": "olt", "rtr-v": "router", "kiosk-v-1": "kiosk", "ups-v": "ups",
                     "rtr-w": "router"},
        device_parent={"olt-a": None, "rtr-v": None, "kiosk-v-1": "rtr-v", "ups-v": "rtr-v",
                       "rtr-w": None},
        link_ends={"fo-a-v": ("olt-a", "rtr-v"), "fo-a-w": ("olt-a", "rtr-w")},
        link_medium={"fo-a-v": "fibre", "fo-a-w": "fibre"},
        site_uplink={"kantor-v": "fo-a-v", "kantor-w": "fo-a-w"},
        site_village={"kantor-v": "35.10.15.2001", "kantor-w": "35.10.15.2002"},
        site_district={"kantor-v": "35.10.15", "kantor-w": "35.10.15", "pop": "35.10.15"},
        site_kind={"kantor-v": "village_office", "kantor-w": "village_office", "pop": "pop"},
    )


@pytest.mark.integration
def test_cut_repair_power_and_overlap(small_fleet: SimFleet) -> None:
    fleet = small_fleet
    faults = FaultInjector(fleet=fleet, topology=_topology(),
                           link_a_interface={"fo-a-v": ("olt-a", "gpon0/3"),
                                             "fo-a-w": ("olt-a", "gpon0/4")})
    assert _get(fleet, "olt-a", IF_OPER_3) == 1
    cut = faults.cut("fo-a-v", by="pytest")
    assert cut.kind == FaultKind.CUT and set(cut.devices) == {"rtr-v", "kiosk-v-1", "ups-v"}
    assert _until(lambda: _get(fleet, "olt-a", IF_OPER_3) == 2)
    assert _get(fleet, "olt-a", IF_OPER_1) == 1, "only the cut link's port goes down"
    assert _until(lambda: not _answers(fleet, "kiosk-v-1"))
    assert _answers(fleet, "rtr-w"), "a device on another link keeps answering"

    silence = faults.silence("kiosk-v-1", by="pytest")
    with pytest.raises(FaultError, match="already cut"):
        faults.cut("fo-a-v", by="pytest")
    faults.repair("fo-a-v", by="pytest")
    assert _until(lambda: _get(fleet, "olt-a", IF_OPER_3) == 1)
    assert _until(lambda: _answers(fleet, "rtr-v"))
    assert not _answers(fleet, "kiosk-v-1"), "the silence still holds after the repair"
    faults.unsilence("kiosk-v-1", by="pytest")
    assert _until(lambda: _answers(fleet, "kiosk-v-1"))
    assert silence.ended_at is not None and silence.ended_by == "pytest"

    assert _get(fleet, "ups-v", UPS_SOURCE) == 3
    faults.power("kantor-v", on=False, by="pytest")
    assert _until(lambda: _get(fleet, "ups-v", UPS_SOURCE) == 5)
    faults.power("kantor-v", on=True, by="pytest")
    assert _until(lambda: _get(fleet, "ups-v", UPS_SOURCE) == 3)

    timed = faults.cut("fo-a-w", by="pytest", duration=1.0)
    assert _until(lambda: not _answers(fleet, "rtr-w"))
    assert _until(lambda: _answers(fleet, "rtr-w") and not timed.active, timeout=8)
    assert timed.ended_by == "pytest (timer)"
    assert [f.active for f in faults.log] == [False] * len(faults.log)


@pytest.mark.integration
def test_bad_fault_requests_change_nothing(small_fleet: SimFleet) -> None:
    faults = FaultInjector(fleet=small_fleet, topology=_topology(),
                           link_a_interface={"fo-a-v": ("olt-a", "gpon0/3"),
                                             "fo-a-w": ("olt-a", "gpon0/4")})
    with pytest.raises(FaultError, match="no link 'fo-nope'"):
        faults.cut("fo-nope", by="pytest")
    with pytest.raises(FaultError, match="is not cut"):
        faults.repair("fo-a-v", by="pytest")
    with pytest.raises(FaultError, match="no simulated UPS"):
        faults.power("kantor-w", on=False, by="pytest")
    with pytest.raises(FaultError, match="not a kiosk"):
        faults.kiosk("rtr-v", running=False, by="pytest")
    with pytest.raises(FaultError, match="duration must be positive"):
        faults.cut("fo-a-w", by="pytest", duration=-1)
    assert faults.active() == []
    assert small_fleet.state_file.read_text() == ""
    assert all(_answers(small_fleet, d) for d in small_fleet.endpoints)
