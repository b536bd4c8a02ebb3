"""Detection within bounds, on the simulated fleet (snmpsim) with time scaled down.

At a 60 s interval with 3 misses the bounds are: a dead device ``down`` about a minute
after it dies (interval + 10 s + 20 s + three timeouts); a cut link ``down`` and what is
behind it ``unreachable`` within the same bound; recovery seen at the next poll. Here the
interval is 2 s (the re-polls scale with it: 0.33 s, 0.67 s) and timeouts are 0.25 s, so
the same formula gives about 3.9 s; the margin is for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.rootcause import CauseKind, device_cause
from collectors.scheduler import Scheduler
from collectors.simfleet import SimFleet, start_fleet
from collectors.snmp import SnmpCollector
from collectors.store import StorePolicy, device_states, link_states
from inventory.db import session_scope
from inventory.topology import Topology
from tests.collectors.test_live_fleet import SIMS, wire

pytestmark = pytest.mark.integration
INTERVAL, TIMEOUT, MISSES = 2.0, 0.25, 3
RETRIES = (1 / 6, 1 / 3)
BOUND = INTERVAL + INTERVAL * sum(RETRIES) + MISSES * TIMEOUT + 0.2  # ≈ 3.9 s
MARGIN = 4.0  # scheduling on a loaded machine


@pytest.fixture(scope="module")
def sim_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimFleet]:
    with start_fleet(SIMS, workdir=tmp_path_factory.mktemp("detect")) as fleet:
        yield fleet


async def _until(check: Callable[[], bool], timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout:.1f} s")


async def test_detection_and_recovery_bounds(
    engine: Engine, sim_fleet: SimFleet, tmp_path: Path
) -> None:
    wire(engine, sim_fleet, tmp_path)
    policy = StorePolicy(down_after_failures=MISSES, stale_after_intervals=3,
                         default_interval_seconds=INTERVAL)
    sched = Scheduler(engine, {"snmp": SnmpCollector()}, policy=policy,
                      default_interval=INTERVAL, timeout=TIMEOUT, retries=0,
                      deadline_seconds=1.5, flush_seconds=0.1, retry_fractions=RETRIES,
                      max_backoff_seconds=2 * INTERVAL, jitter=True)

    def devices() -> dict[str, str]:
        with session_scope(engine) as s:
            return {v.device_id: v.status for v in device_states(s, policy=policy)}

    def link() -> str:
        with session_scope(engine) as s:
            (view,) = link_states(s, policy=policy)
            return view.status

    figures: dict[str, float] = {}
    await sched.start()
    try:
        await _until(lambda: set(devices().values()) == {"up"} and link() == "up", 20)
        # a dead kiosk: down within the bound, nothing else moves
        sim_fleet.set_down("kiosk-kemiren-1")
        figures["dead device down"] = await _until(
            lambda: devices()["kiosk-kemiren-1"] == "down", BOUND + MARGIN)
        assert devices()["rtr-kemiren"] == "up" and link() == "up"
        sim_fleet.set_down("kiosk-kemiren-1", False)
        figures["device recovery"] = await _until(
            lambda: devices()["kiosk-kemiren-1"] == "up", 2 * INTERVAL + MARGIN)

        # a cut: the router and the kiosk behind the link stop answering
        sim_fleet.set_down("rtr-kemiren")
        sim_fleet.set_down("kiosk-kemiren-1")
        figures["cut link down"] = await _until(lambda: link() == "down", BOUND + MARGIN)
        figures["behind the cut unreachable"] = await _until(
            lambda: devices()["kiosk-kemiren-1"] == "unreachable", BOUND + MARGIN)
        states = devices()
        assert states["olt-glagah"] == "up" and states["kiosk-kemiren-1"] == "unreachable"
        with session_scope(engine) as s:
            topo = Topology.load(s)
        cause = device_cause(topo, "kiosk-kemiren-1", down_links={"fo-glagah-kemiren"},
                             down_devices={d for d, st in states.items() if st == "down"})
        assert (cause.kind, cause.subject) == (CauseKind.LINK, "fo-glagah-kemiren")

        sim_fleet.set_down("rtr-kemiren", False)
        sim_fleet.set_down("kiosk-kemiren-1", False)
        figures["cut recovery"] = await _until(
            lambda: link() == "up" and set(devices().values()) == {"up"},
            2 * INTERVAL + MARGIN)
    finally:
        sim_fleet.set_down("rtr-kemiren", False)
        sim_fleet.set_down("kiosk-kemiren-1", False)
        await sched.stop()
    print(f"detection at a 2 s interval (bound {BOUND:.1f} s):",
          ", ".join(f"{k} {v:.1f} s" for k, v in figures.items()))
