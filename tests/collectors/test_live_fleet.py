"""The whole chain against the simulated SNMP fleet (snmpsim): the real SNMP collector,
the scheduler and the store. A village router stops answering: it goes down only after
N failed polls, the kiosk behind it is unreachable (not down), the uplink is down, and
availability afterwards counts the router's outage but not the kiosk's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from collectors.scheduler import Scheduler
from collectors.simfleet import SimDevice, SimFleet, start_fleet
from collectors.snmp import SnmpCollector
from collectors.store import (
    StorePolicy,
    availability,
    device_states,
    link_states,
    transitions,
)
from core.timeutil import utcnow
from inventory.db import session_scope
from inventory.models import Device, SnmpProfile
from tests.collectors.conftest import seed_inventory

pytestmark = pytest.mark.integration
SIMS = [SimDevice("olt-glagah", "olt", flap=False), SimDevice("rtr-kemiren", "router", flap=False),
        SimDevice("kiosk-kemiren-1", "kiosk", app_version="3.2.0")]


@pytest.fixture(scope="module")
def sim_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimFleet]:
    with start_fleet(SIMS, workdir=tmp_path_factory.mktemp("simfleet")) as fleet:
        yield fleet


def wire(engine: Engine, fleet: SimFleet, tmp: Path) -> None:
    seed_inventory(engine)
    with session_scope(engine) as s:
        for sim in SIMS:
            secret = tmp / f"{sim.id}.community"
            secret.write_text(fleet.endpoints[sim.id].community)
            s.add(SnmpProfile(name=f"v2-{sim.id}", version="2c", community_file=str(secret)))
        s.flush()
        for sim in SIMS:
            d = s.get(Device, sim.id)
            assert d is not None
            d.address = fleet.endpoints[sim.id].address
            d.snmp_port = fleet.endpoints[sim.id].port
            d.snmp_profile = f"v2-{sim.id}"


async def wait_for(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_router_outage_end_to_end(
    engine: Engine, sim_fleet: SimFleet, tmp_path: Path
) -> None:
    wire(engine, sim_fleet, tmp_path)
    policy = StorePolicy(down_after_failures=3, stale_after_intervals=5,
                         default_interval_seconds=0.3)
    sched = Scheduler(engine, {"snmp": SnmpCollector()}, policy=policy, default_interval=0.3,
                      timeout=0.2, retries=0, deadline_seconds=1.5, flush_seconds=0.1,
                      max_backoff_seconds=0.6, jitter=True)

    def states() -> dict[str, str]:
        with session_scope(engine) as s:
            return {v.device_id: v.status for v in device_states(s, policy=policy)}

    start = utcnow()
    await sched.start()
    try:
        await wait_for(lambda: set(states().values()) == {"up"})
        with session_scope(engine) as s:
            views = {v.device_id: v for v in device_states(s, policy=policy)}
            (link,) = link_states(s, policy=policy)
        assert views["kiosk-kemiren-1"].kiosk_app_version == "3.2.0"
        assert views["rtr-kemiren"].sys_descr and "RouterOS" in views["rtr-kemiren"].sys_descr
        assert link.status == "up" and link.a_oper_up is True

        sim_fleet.set_down("rtr-kemiren")
        sim_fleet.set_down("kiosk-kemiren-1")
        cut = utcnow()
        await wait_for(lambda: states()["rtr-kemiren"] == "down")
        with session_scope(engine) as s:
            (router,) = device_states(s, ["rtr-kemiren"], policy=policy)
        assert router.consecutive_failures >= 3  # never on the first lost reply
        await wait_for(lambda: states()["kiosk-kemiren-1"] == "unreachable")
        assert states()["olt-glagah"] == "up"
        with session_scope(engine) as s:
            (link,) = link_states(s, policy=policy)
        assert link.status == "down"

        sim_fleet.set_down("rtr-kemiren", False)
        sim_fleet.set_down("kiosk-kemiren-1", False)
        await wait_for(lambda: set(states().values()) == {"up"})
    finally:
        sim_fleet.set_down("rtr-kemiren", False)
        sim_fleet.set_down("kiosk-kemiren-1", False)
        await sched.stop()
    end = utcnow()
    with session_scope(engine) as s:
        rtr = availability(s, kind="device", subject="rtr-kemiren", start=start, end=end,
                           policy=policy, now=end)
        kiosk = availability(s, kind="device", subject="kiosk-kemiren-1", start=start,
                             end=end, policy=policy, now=end)
        history = [(t.from_status, t.to_status) for t in
                   transitions(s, kind="device", subject="rtr-kemiren", start=start)]
    assert history == [("unknown", "up"), ("up", "down"), ("down", "up")]
    assert rtr.down_s > 0 and rtr.flaps == 1 and rtr.percent is not None and rtr.percent < 100
    assert kiosk.down_s == 0 and kiosk.unreachable_s > 0 and kiosk.percent == 100.0
    assert (end - cut) > timedelta(seconds=0.5)
