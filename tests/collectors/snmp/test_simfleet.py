"""The simulated fleet (snmpsim): answers per role, values move, devices go down on demand.
Its recordings are also read back with net-snmp's snmpbulkwalk to prove they are sound SNMP."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from collectors.base import Observation
from collectors.simfleet import ROLE_INTERFACES, SimFleet
from collectors.snmp import SnmpCollector
from collectors.store import counter_delta
from tests.collectors.snmp.conftest import SIM_DEVICES, target, v2c

pytestmark = pytest.mark.integration


async def poll(collector: SnmpCollector, fleet: SimFleet, device_id: str) -> Observation:
    ep = fleet.endpoints[device_id]
    role = next(d.role for d in SIM_DEVICES if d.id == device_id)
    return await collector.collect(target(device_id, role, ep.address, ep.port,
                                          v2c(ep.community), timeout=1.0, retries=1))


async def test_every_role_answers(simfleet: SimFleet, collector: SnmpCollector) -> None:
    results = await asyncio.gather(*(poll(collector, simfleet, d.id) for d in SIM_DEVICES))
    by_id = {o.device_id: o for o in results}
    assert all(o.ok for o in results), [(o.device_id, o.reason) for o in results if not o.ok]
    for d in SIM_DEVICES:
        o = by_id[d.id]
        assert o.sys_name == d.id
        assert o.sys_uptime_ticks and o.sys_uptime_ticks > 0
        assert len(o.interfaces) == ROLE_INTERFACES[d.role]
    rtr = by_id["rtr-kemiren"]
    assert [i.name for i in rtr.interfaces] == [f"ether{n}" for n in range(1, 9)]
    assert rtr.interfaces[0].alias == "uplink rtr-kemiren"
    assert [i.admin_up for i in rtr.interfaces] == [True] * 6 + [False] * 2
    assert by_id["olt-glagah"].interfaces[0].name == "gpon0/1"
    assert [i.name for i in by_id["ont-kemiren"].interfaces] == ["pon0", "lan1"]
    ups = by_id["ups-kemiren"].ups
    assert ups is not None and ups.on_battery is not None and ups.charge_percent
    kiosk = by_id["kiosk-kemiren-1"].kiosk
    assert kiosk is not None
    assert kiosk.app_version == "2.4.0" and kiosk.app_active is True
    assert kiosk.disk_total_bytes == 4096 * 7_700_000
    assert kiosk.disk_free_bytes is not None and 0 < kiosk.disk_free_bytes < kiosk.disk_total_bytes


async def test_counters_and_uptime_grow(simfleet: SimFleet, collector: SnmpCollector) -> None:
    first = await poll(collector, simfleet, "rtr-kemiren")
    await asyncio.sleep(1.1)
    second = await poll(collector, simfleet, "rtr-kemiren")
    assert first.ok and second.ok
    assert second.sys_uptime_ticks > first.sys_uptime_ticks  # type: ignore[operator]
    a, b = first.interfaces[0], second.interfaces[0]
    assert counter_delta(a.in_octets, b.in_octets) > 0


async def test_link_flaps_on_schedule(simfleet: SimFleet, collector: SnmpCollector) -> None:
    seen: set[bool | None] = set()
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline and len(seen) < 2:
        o = await poll(collector, simfleet, "rtr-flappy")
        assert o.ok
        seen.add(o.interfaces[0].oper_up)
        assert all(i.oper_up for i in o.interfaces[1:6])  # only the uplink flaps
        await asyncio.sleep(0.2)
    assert seen == {True, False}


async def test_ups_goes_on_battery(simfleet: SimFleet, collector: SnmpCollector) -> None:
    seen: dict[bool, float] = {}
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline and len(seen) < 2:
        o = await poll(collector, simfleet, "ups-kemiren")
        assert o.ok and o.ups is not None and o.ups.on_battery is not None
        seen[o.ups.on_battery] = o.ups.charge_percent or 0.0
        await asyncio.sleep(0.2)
    assert set(seen) == {True, False}
    assert seen[True] < seen[False]


async def test_fibre_cut_on_demand(simfleet: SimFleet, collector: SnmpCollector) -> None:
    assert (await poll(collector, simfleet, "rtr-cut")).ok
    simfleet.set_down("rtr-cut", True)
    try:
        await asyncio.sleep(0.3)
        down, neighbour = await asyncio.gather(poll(collector, simfleet, "rtr-cut"),
                                               poll(collector, simfleet, "rtr-kemiren"))
        assert not down.ok and down.reason == "timeout"
        assert neighbour.ok  # the same responder keeps serving the others
    finally:
        simfleet.set_down("rtr-cut", False)
    await asyncio.sleep(0.3)
    assert (await poll(collector, simfleet, "rtr-cut")).ok


def test_recordings_read_back_with_net_snmp(simfleet: SimFleet) -> None:
    ep = simfleet.endpoints["kiosk-kemiren-1"]
    out = subprocess.run(
        ["snmpbulkwalk", "-v2c", "-c", ep.community, "-On", "-Oq", "-r", "1", "-t", "2",
         f"{ep.address}:{ep.port}", "1.3.6.1.4.1.8072.1.3.2.3.1.1"],
        capture_output=True, text=True, check=True,
        env={"MIBS": "", "SNMPCONFPATH": str(simfleet.workdir),
             "SNMP_PERSISTENT_DIR": str(simfleet.workdir / "tools"), "PATH": "/usr/bin:/bin"},
    ).stdout
    assert '"2.4.0"' in out and '"active"' in out
