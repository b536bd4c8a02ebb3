"""The scheduler with a recording fake collector: one poll per device at a time, jitter,
back-off, a hung device never delaying the others, reloads, configuration errors."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine

from collectors.base import Observation, Target
from collectors.scheduler import Scheduler
from collectors.store import StorePolicy, Transition, device_states
from core.timeutil import utcnow
from inventory.db import session_scope
from inventory.models import Device, SnmpProfile
from tests.collectors.conftest import T0, seed_inventory

SECRET = "s3cr3t-community-value"


@dataclass
class FakeCollector:
    """Records every call; behaviour per device: ok, fail, hang or a delay in seconds."""

    behaviour: dict[str, str | float] = field(default_factory=dict)
    protocol: str = "snmp"
    calls: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    targets: list[Target] = field(default_factory=list)
    closed: bool = False

    async def collect(self, target: Target) -> Observation:
        did = target.device_id
        self.targets.append(target)
        start = time.monotonic()
        self.active[did] += 1
        self.max_active[did] = max(self.max_active[did], self.active[did])
        try:
            how = self.behaviour.get(did, "ok")
            if how == "hang":
                await asyncio.Event().wait()
            if isinstance(how, float):
                await asyncio.sleep(how)
            ok = how != "fail"
            return Observation(device_id=did, protocol="snmp", ok=ok, started_at=utcnow(),
                               duration_seconds=time.monotonic() - start,
                               reason=None if ok else "timeout")
        finally:
            self.active[did] -= 1
            self.calls[did].append((start, time.monotonic()))

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def fleet(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    seed_inventory(engine)
    monkeypatch.setenv("KTG_TEST_COMMUNITY", SECRET)
    with session_scope(engine) as s:
        s.add(SnmpProfile(name="public-v2", version="2c", community_env="KTG_TEST_COMMUNITY"))
        s.flush()
        for d in s.query(Device):
            d.snmp_profile = "public-v2"
    return engine


def make(engine: Engine, fake: FakeCollector, **kw: object) -> Scheduler:
    opts: dict[str, object] = {
        "policy": StorePolicy(down_after_failures=2, stale_after_intervals=3,
                              default_interval_seconds=0.1),
        "default_interval": 0.1,
        "deadline_seconds": 0.3,
        "flush_seconds": 0.05,
        "jitter": False,
    }
    opts.update(kw)
    return Scheduler(engine, {"snmp": fake}, **opts)  # type: ignore[arg-type]


async def test_slow_device_is_never_polled_twice_at_once(fleet: Engine) -> None:
    fake = FakeCollector(behaviour={"rtr-kemiren": 0.25})
    sched = make(fleet, fake, deadline_seconds=1.0)
    await sched.start()
    await asyncio.sleep(1.0)
    stats = sched.stats()
    await sched.stop()
    assert fake.max_active["rtr-kemiren"] == 1
    # a full pass over the fleet waits for the slow router (0.25 s a poll)
    assert stats.cycle_duration_seconds is not None
    assert 0.2 <= stats.cycle_duration_seconds < 0.6
    assert stats.last_cycle_timestamp_seconds is not None
    assert stats.as_dict()["polls_total"] == stats.polls_total
    calls = sorted(fake.calls["rtr-kemiren"])
    assert len(calls) >= 3
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(calls))
    assert fake.closed


async def test_hung_device_never_delays_the_others(fleet: Engine) -> None:
    fake = FakeCollector(behaviour={"rtr-kemiren": "hang"})
    sched = make(fleet, fake, concurrency=2)
    await sched.start()
    await asyncio.sleep(1.0)
    stats = sched.stats()
    await sched.stop()
    # The OLT keeps its 0.1 s rhythm although the router hangs and holds one of two slots.
    assert len(fake.calls["olt-glagah"]) >= 6
    assert len(fake.calls["kiosk-kemiren-1"]) >= 6
    assert stats.timeouts_total >= 2 and stats.polls_total >= 12
    assert stats.max_lag_seconds < 0.3 or stats.lag_seconds < 0.3
    with session_scope(fleet) as s:
        views = {v.device_id: v for v in device_states(s, policy=sched.policy)}
    assert views["rtr-kemiren"].observed_status == "down"
    assert "no result within 0.3 s" in (views["rtr-kemiren"].reason or "")
    assert views["olt-glagah"].status == "up"


async def test_down_device_is_backed_off_but_still_polled(fleet: Engine) -> None:
    fake = FakeCollector(behaviour={"rtr-kemiren": "fail"})
    sched = make(fleet, fake, max_backoff_seconds=0.4)
    await sched.start()
    await asyncio.sleep(1.6)
    intervals = sched.intervals()
    stats = sched.stats()
    await sched.stop()
    healthy = len(fake.calls["olt-glagah"])
    failing = len(fake.calls["rtr-kemiren"])
    assert intervals["rtr-kemiren"] == pytest.approx(0.4)  # 0.1 × 2^k, capped
    assert intervals["olt-glagah"] == pytest.approx(0.1)
    assert 4 <= failing < healthy * 0.6
    assert stats.backed_off == 1
    starts = [c[0] for c in sorted(fake.calls["rtr-kemiren"])]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] < 0.2 and max(gaps) >= 0.35


def test_first_polls_are_spread_over_one_interval(fleet: Engine) -> None:
    with session_scope(fleet) as s:
        for i in range(60):
            s.add(Device(id=f"ont-{i:02d}", site_id="kantor-desa-kemiren", role="ont",
                         address="127.0.0.1", snmp_profile="public-v2"))
    sched = make(fleet, FakeCollector(), jitter=True, default_interval=60.0,
                 rng=random.Random(7), role_intervals={"ont": 30.0})
    sched.load_targets()
    due = sched.due_in()
    onts = [v for k, v in due.items() if k.startswith("ont-")]
    assert min(onts) >= 0 and max(onts) <= 30.0
    assert len({round(v, 3) for v in onts}) > 50
    assert min(onts) < 5 and max(onts) > 25  # spread, not bunched
    assert sched.intervals()["ont-00"] == 30.0  # role override
    assert sched.intervals()["olt-glagah"] == 60.0


def test_device_interval_overrides_role(fleet: Engine) -> None:
    with session_scope(fleet) as s:
        s.get(Device, "olt-glagah").poll_interval = 15.0  # type: ignore[union-attr]
    sched = make(fleet, FakeCollector(), role_intervals={"olt": 30.0, "kiosk": 300.0})
    sched.load_targets()
    assert sched.intervals()["olt-glagah"] == 15.0
    assert sched.intervals()["kiosk-kemiren-1"] == 300.0


async def test_reload_picks_up_new_devices(fleet: Engine) -> None:
    fake = FakeCollector()
    sched = make(fleet, fake, reload_seconds=0.2)
    await sched.start()
    with session_scope(fleet) as s:
        s.add(Device(id="ups-kemiren", site_id="kantor-desa-kemiren", role="ups",
                     address="127.0.0.1", snmp_profile="public-v2"))
    await asyncio.sleep(0.6)
    await sched.stop()
    assert fake.calls["ups-kemiren"]
    assert sched.stats().targets == 4


async def test_missing_secret_is_a_configuration_error_not_a_crash(
    fleet: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("KTG_TEST_COMMUNITY")
    fake = FakeCollector()
    sched = make(fleet, fake)
    caplog.set_level(logging.DEBUG)
    results = await sched.run_once()
    assert {o.device_id for o in results} == {"olt-glagah", "rtr-kemiren", "kiosk-kemiren-1"}
    assert all(not o.ok for o in results)
    assert "KTG_TEST_COMMUNITY is not set" in (results[0].reason or "")
    assert not fake.targets  # nothing was polled without credentials
    with session_scope(fleet) as s:
        views = device_states(s, policy=sched.policy)
    assert {v.status for v in views} == {"unknown"}
    assert "configuration error" in (views[0].reason or "")


async def test_run_once_resolves_secrets_without_leaking_them(
    fleet: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeCollector()
    results = await make(fleet, fake).run_once(["olt-glagah"])
    assert [o.device_id for o in results] == ["olt-glagah"] and results[0].ok
    (target,) = fake.targets
    assert target.snmp is not None and target.snmp.community is not None
    assert target.snmp.community.get() == SECRET
    assert SECRET not in repr(target)
    assert SECRET not in caplog.text


async def test_transition_listeners_hear_a_device_come_back_up(fleet: Engine) -> None:
    fake = FakeCollector(behaviour={"kiosk-kemiren-1": "fail"})
    sched = make(fleet, fake)
    heard: list[tuple[str, str, str]] = []

    def listener(changes: object) -> None:
        for t in changes:  # type: ignore[attr-defined]
            if t.kind == "device":
                heard.append((t.subject, t.from_status, t.to_status))

    def broken(changes: object) -> None:
        raise RuntimeError("a listener bug must not stop the poller")

    sched.add_transition_listener(broken)
    sched.add_transition_listener(listener)
    await sched.start()
    for _ in range(50):
        await asyncio.sleep(0.05)
        if ("kiosk-kemiren-1", "unknown", "down") in heard:
            break
    fake.behaviour["kiosk-kemiren-1"] = "ok"
    for _ in range(50):
        await asyncio.sleep(0.05)
        if ("kiosk-kemiren-1", "down", "up") in heard:
            break
    await sched.stop()
    assert ("kiosk-kemiren-1", "unknown", "down") in heard
    assert ("kiosk-kemiren-1", "down", "up") in heard
    assert ("olt-glagah", "unknown", "up") in heard


def test_devices_behind_a_repaired_fault_are_polled_again_at_once(fleet: Engine) -> None:
    clock = [1000.0]
    sched = make(fleet, FakeCollector(), clock=lambda: clock[0], default_interval=60.0,
                 max_backoff_seconds=900.0)
    sched.load_targets()
    for slot in sched._slots.values():  # everyone failed 5 times: backed off
        slot.failures = 5
        slot.effective_interval = sched._interval_for(slot)
        slot.due = clock[0] + slot.effective_interval
    assert sched.intervals()["kiosk-kemiren-1"] == 900.0
    sched._recheck_behind([Transition("link", "fo-glagah-kemiren", "down", "up", T0, None)])
    due = sched.due_in()
    assert due["kiosk-kemiren-1"] <= 0 and due["rtr-kemiren"] <= 0  # behind the link
    assert sched.intervals()["kiosk-kemiren-1"] == 60.0
    assert due["olt-glagah"] == 900.0  # in front of it: untouched


async def test_a_miss_is_re_polled_soon_and_the_device_in_front_at_once(fleet: Engine) -> None:
    """60 s interval, 3 misses: after the first miss 10 s, after the second 20 s, then the
    verdict (back-off); the A end of the failing router's uplink is polled at once."""
    clock = [1000.0]
    fake = FakeCollector(behaviour={"rtr-kemiren": "fail"})
    sched = make(fleet, fake, clock=lambda: clock[0], default_interval=60.0,
                 policy=StorePolicy(down_after_failures=3, default_interval_seconds=60.0),
                 max_backoff_seconds=900.0)
    sched.load_targets()
    sched._sem = asyncio.Semaphore(4)
    slots = sched._slots
    for slot in slots.values():
        slot.due = clock[0] + 30.0
    rtr = slots["rtr-kemiren"]
    gaps = []
    for _ in range(3):
        await sched._run_slot(rtr, clock[0])
        gaps.append(rtr.due - clock[0])
        if len(gaps) == 1:
            assert slots["olt-glagah"].due == clock[0]  # in front of it: now
            assert slots["kiosk-kemiren-1"].due == clock[0] + 30.0  # behind it: untouched
    assert gaps == [pytest.approx(10.0), pytest.approx(20.0), pytest.approx(120.0)]


def test_retry_fractions_are_checked(fleet: Engine) -> None:
    with pytest.raises(ValueError, match="KENTONGAN_POLL_RETRY_FRACTIONS"):
        make(fleet, FakeCollector(), retry_fractions=(0.0, 2.0))
