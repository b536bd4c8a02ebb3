"""The observation store on SQLite and PostgreSQL: failure threshold, staleness,
topology (unreachable), links, availability with maintenance, flaps, counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from collectors.base import Observation
from collectors.store import (
    StorePolicy,
    Transition,
    availability,
    availability_many,
    counter_delta,
    device_states,
    flap_counts,
    interface_states,
    link_states,
    recompute_states,
    record_observations,
    transitions,
)
from inventory.db import session_scope
from inventory.models import Device, MaintenanceWindow
from tests.collectors.conftest import T0, fail, iface, kiosk_obs, ok, seed_inventory

POLICY = StorePolicy(down_after_failures=3, stale_after_intervals=3.0,
                     default_interval_seconds=60.0)
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


@pytest.fixture
def db(any_engine: Engine) -> Engine:
    seed_inventory(any_engine)
    return any_engine


def poll(engine: Engine, observations: Sequence[Observation], at: datetime) -> list[Transition]:
    with session_scope(engine) as s:
        return record_observations(s, observations, policy=POLICY, now=at)


def state(engine: Engine, device_id: str, at: datetime) -> str:
    with session_scope(engine) as s:
        (view,) = device_states(s, [device_id], policy=POLICY, now=at)
        return view.status



def all_ok(engine: Engine, at: datetime, *, gpon_up: bool = True) -> None:
    poll(engine, [ok("olt-glagah", interfaces=[iface(3, "gpon0/3", up=gpon_up)]),
                  ok("rtr-kemiren", interfaces=[iface(1, "ether1")]),
                  kiosk_obs("kiosk-kemiren-1")], at)


def test_down_only_after_n_consecutive_failures(db: Engine) -> None:
    all_ok(db, T0)
    assert state(db, "rtr-kemiren", T0) == "up"
    poll(db, [fail("rtr-kemiren")], T0 + MIN)
    poll(db, [fail("rtr-kemiren")], T0 + 2 * MIN)
    assert state(db, "rtr-kemiren", T0 + 2 * MIN) == "up"  # two lost replies page nobody
    poll(db, [ok("rtr-kemiren")], T0 + 3 * MIN)
    poll(db, [fail("rtr-kemiren")], T0 + 4 * MIN)
    poll(db, [fail("rtr-kemiren")], T0 + 5 * MIN)
    assert state(db, "rtr-kemiren", T0 + 5 * MIN) == "up"  # the count restarted
    changes = poll(db, [fail("rtr-kemiren", "timeout")], T0 + 6 * MIN)
    assert state(db, "rtr-kemiren", T0 + 6 * MIN) == "down"
    assert ("device", "rtr-kemiren", "up", "down") in {
        (t.kind, t.subject, t.from_status, t.to_status) for t in changes
    }
    with session_scope(db) as s:
        (view,) = device_states(s, ["rtr-kemiren"], policy=POLICY, now=T0 + 6 * MIN)
        stored = transitions(s, kind="device", subject="rtr-kemiren")
    assert view.consecutive_failures == 3
    assert view.timeouts_total == 5 and view.polls_total == 7
    assert view.reason == "timeout"
    assert [(t.from_status, t.to_status) for t in stored] == [("unknown", "up"), ("up", "down")]
    assert stored[-1].at == T0 + 6 * MIN


def test_stale_data_reads_unknown_never_up(db: Engine) -> None:
    all_ok(db, T0)
    assert state(db, "kiosk-kemiren-1", T0 + 3 * MIN) == "up"
    late = T0 + 3 * MIN + timedelta(seconds=1)
    with session_scope(db) as s:
        (view,) = device_states(s, ["kiosk-kemiren-1"], policy=POLICY, now=late)
    assert view.status == "unknown" and view.stale
    assert view.kiosk_app_version == "1.4.2"  # the last data is kept, only not trusted
    with session_scope(db) as s:
        changes = recompute_states(s, policy=POLICY, now=late)
    assert {(t.subject, t.to_status) for t in changes} >= {("kiosk-kemiren-1", "unknown")}


def test_never_polled_device_is_unknown(db: Engine) -> None:
    poll(db, [ok("olt-glagah")], T0)
    with session_scope(db) as s:
        views = {v.device_id: v for v in device_states(s, policy=POLICY, now=T0)}
    assert views["kiosk-kemiren-1"].status == "unknown"
    assert views["olt-glagah"].status == "up"


def test_fibre_cut_makes_village_unreachable_not_down(db: Engine) -> None:
    all_ok(db, T0)
    with session_scope(db) as s:
        assert [v.status for v in link_states(s, policy=POLICY, now=T0)] == ["up"]
    for k in range(1, 4):
        poll(db, [ok("olt-glagah", interfaces=[iface(3, "gpon0/3", up=False)]),
                  fail("rtr-kemiren"), fail("kiosk-kemiren-1", "connection refused")],
             T0 + k * MIN)
    at = T0 + 3 * MIN
    assert state(db, "rtr-kemiren", at) == "unreachable"
    assert state(db, "kiosk-kemiren-1", at) == "unreachable"
    assert state(db, "olt-glagah", at) == "up"
    with session_scope(db) as s:
        (link,) = link_states(s, policy=POLICY, now=at)
        (router,) = device_states(s, ["rtr-kemiren"], policy=POLICY, now=at)
    assert link.status == "down" and link.a_oper_up is False
    assert "gpon0/3" in (link.reason or "")
    assert router.observed_status == "down" and "fo-glagah-kemiren" in (router.reason or "")


def test_dead_router_is_down_and_kiosk_behind_it_unreachable(db: Engine) -> None:
    all_ok(db, T0)
    for k in range(1, 4):
        poll(db, [ok("olt-glagah", interfaces=[iface(3, "gpon0/3", up=True)]),
                  fail("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + k * MIN)
    at = T0 + 3 * MIN
    assert state(db, "rtr-kemiren", at) == "down"
    assert state(db, "kiosk-kemiren-1", at) == "unreachable"
    with session_scope(db) as s:
        (link,) = link_states(s, policy=POLICY, now=at)
    assert link.status == "down" and "far end" in (link.reason or "")


def test_dead_olt_makes_link_unreachable(db: Engine) -> None:
    all_ok(db, T0)
    for k in range(1, 4):
        poll(db, [fail("olt-glagah"), fail("rtr-kemiren"), fail("kiosk-kemiren-1")],
             T0 + k * MIN)
    at = T0 + 3 * MIN
    assert state(db, "olt-glagah", at) == "down"
    assert state(db, "rtr-kemiren", at) == "unreachable"
    with session_scope(db) as s:
        (link,) = link_states(s, policy=POLICY, now=at)
    assert link.status == "unreachable"


def test_availability_excludes_maintenance_and_unreachable(db: Engine) -> None:
    # 00:00 up; 01:00-02:00 down (the router's own fault); 03:00-04:00 behind a fibre cut;
    # 05:00-06:00 down inside a maintenance window; up again until 08:00.
    hour = timedelta(hours=1)
    with session_scope(db) as s:
        s.add(MaintenanceWindow(id="mw-1", scope="site", target="kantor-desa-kemiren",
                                starts_at=T0 + 5 * hour - MIN, ends_at=T0 + 6 * hour + MIN))

    def cycle(at: datetime, *, rtr: bool, gpon: bool = True) -> None:
        poll(db, [ok("olt-glagah", interfaces=[iface(3, "gpon0/3", up=gpon)]),
                  ok("rtr-kemiren") if rtr else fail("rtr-kemiren")], at)

    cycle(T0, rtr=True)
    for start, kind in ((1, "own"), (3, "cut"), (5, "own")):
        for k in range(3):
            cycle(T0 + start * hour - (2 - k) * MIN, rtr=False, gpon=kind != "cut")
        cycle(T0 + (start + 1) * hour, rtr=True)
    # keep it fresh until the end of the window
    for k in range(1, 120):
        cycle(T0 + 6 * hour + k * MIN, rtr=True)
    end = T0 + 8 * hour
    with session_scope(db) as s:
        res = availability(s, kind="device", subject="rtr-kemiren", start=T0, end=end,
                           policy=POLICY, now=end)
        link = availability(s, kind="link", subject="fo-glagah-kemiren", start=T0, end=end,
                            policy=POLICY, now=end)
        site = availability(s, kind="site", subject="kantor-desa-kemiren", start=T0, end=end,
                            policy=POLICY, now=end)
        district = availability(s, kind="district", subject="35.10.15", start=T0, end=end,
                                policy=POLICY, now=end)
    assert res.down_s == pytest.approx(3600)
    # behind the cut from its first miss with the port already down (02:58), not its third
    assert res.unreachable_s == pytest.approx(3600 + 120)
    assert res.maintenance_s == pytest.approx(3600 + 120)
    assert res.up_s == pytest.approx(8 * 3600 - 3600 - 3720 - 3720)
    assert res.percent == pytest.approx(100 * res.up_s / (res.up_s + res.down_s))
    assert res.flaps == 1  # the outage inside maintenance is not a flap
    # far end down 01:00-02:00; A interface down from the first poll that saw it (02:58)
    assert link.down_s == pytest.approx(3600 + 3720)
    assert link.maintenance_s == pytest.approx(3720)
    assert site.subjects == 2 and site.down_s == pytest.approx(3600)
    assert district.subjects == 3
    assert district.up_s > site.up_s
    with session_scope(db) as s:
        flaps = flap_counts(s, kind="device", start=T0, end=end)
        villages = availability_many(s, kind="village", start=T0, end=end, policy=POLICY,
                                     now=end)
        devices = availability_many(s, kind="device", subjects=["rtr-kemiren", "nope"],
                                    start=T0, end=end, policy=POLICY, now=end)
    assert flaps == {"rtr-kemiren": 2}
    assert set(villages) == {"35.10.15.2004", "35.10.15.2005"}
    assert villages["35.10.15.2004"].down_s == site.down_s
    assert villages["35.10.15.2005"].subjects == 1  # the PoP's OLT
    assert devices["rtr-kemiren"].down_s == res.down_s and devices["nope"].percent is None


def test_availability_after_poller_stops_is_unknown(db: Engine) -> None:
    all_ok(db, T0)
    end = T0 + timedelta(hours=1)
    with session_scope(db) as s:
        res = availability(s, kind="device", subject="olt-glagah", start=T0, end=end,
                           policy=POLICY, now=end)
        earlier = availability(s, kind="device", subject="olt-glagah",
                               start=T0 - timedelta(hours=1), end=end, policy=POLICY, now=end)
    assert res.up_s == pytest.approx(180)
    assert res.unknown_s == pytest.approx(3600 - 180)
    assert res.percent == 100.0
    assert earlier.unknown_s == pytest.approx(2 * 3600 - 180)
    with pytest.raises(ValueError, match="unknown availability kind"), session_scope(db) as s:
        availability(s, kind="galaxy", subject="x", start=T0, end=end)


def test_counter_delta_wrap_reboot_never_negative() -> None:
    assert counter_delta(100, 150) == 50
    assert counter_delta(2**32 - 10, 5) == 15  # 32-bit wrap
    assert counter_delta(5_000, 40, rebooted=True) == 40
    assert counter_delta(2**40, 7) == 7  # a 64-bit counter went backwards: reset
    assert counter_delta(2**64 - 3, 7) == 10  # a 64-bit wrap
    assert counter_delta(None, 7) == 0
    assert counter_delta(10, -1) == 0


def test_interface_totals_fold_wrap_and_reboot(db: Engine) -> None:
    big = 2**64 - 100
    readings = [
        (1000, 2**32 - 50, big, T0),
        (2000, 30, 40, T0 + MIN),  # in: 32-bit wrap; out: 64-bit wrap
        (500, 10, 20, T0 + 2 * MIN),  # reboot: sysUpTime went back
    ]
    for ticks, in_oct, out_oct, at in readings:
        poll(db, [ok("rtr-kemiren", sys_uptime_ticks=ticks,
                     interfaces=[iface(1, "ether1", in_octets=in_oct, out_octets=out_oct,
                                       in_errors=3)])], at)
    with session_scope(db) as s:
        (row,) = interface_states(s, ["rtr-kemiren"])
    assert row.in_octets_total == 80 + 10
    assert row.out_octets_total == 140 + 20
    assert row.in_errors_total == 0 + 3  # unchanged, then the reboot restarted it at 3
    assert row.name == "ether1" and row.oper_up is True
    # ifName is cached: a poll without names keeps it
    poll(db, [ok("rtr-kemiren", sys_uptime_ticks=600,
                 interfaces=[iface(1, None, in_octets=10)])], T0 + 3 * MIN)  # type: ignore[arg-type]
    with session_scope(db) as s:
        (row,) = interface_states(s, ["rtr-kemiren"])
    assert row.name == "ether1"


def test_timeticks_wrap_is_not_taken_for_a_reboot(db: Engine) -> None:
    # 497 days up: sysUpTime wraps between two polls a minute apart; the counter advanced 500.
    poll(db, [ok("rtr-kemiren", sys_uptime_ticks=2**32 - 3000,
                 interfaces=[iface(1, "ether1", in_octets=1000)])], T0)
    poll(db, [ok("rtr-kemiren", sys_uptime_ticks=3000,
                 interfaces=[iface(1, "ether1", in_octets=1500)])], T0 + MIN)
    with session_scope(db) as s:
        (row,) = interface_states(s, ["rtr-kemiren"])
    assert row.in_octets_total == 500


def test_kiosk_uptime_going_back_is_a_reboot(db: Engine) -> None:
    first, second = kiosk_obs("kiosk-kemiren-1"), kiosk_obs("kiosk-kemiren-1")
    first.interfaces = [iface(1, "eth0", in_octets=5000)]
    second.interfaces = [iface(1, "eth0", in_octets=200)]
    assert second.kiosk is not None
    second.kiosk.uptime_seconds = 30.0  # it rebooted: counters restarted from zero
    poll(db, [first], T0)
    poll(db, [second], T0 + MIN)
    with session_scope(db) as s:
        (row,) = interface_states(s, ["kiosk-kemiren-1"])
    assert row.in_octets_total == 200  # not a 32-bit "wrap" of ~4 GB


def test_large_raw_counters_round_trip(db: Engine) -> None:
    near = 2**64 - 1
    poll(db, [ok("olt-glagah", interfaces=[iface(2, "uplink", in_octets=near)])], T0)
    poll(db, [ok("olt-glagah", interfaces=[iface(2, "uplink", in_octets=near)])], T0 + MIN)
    with session_scope(db) as s:
        (row,) = interface_states(s, ["olt-glagah"])
    assert row.in_octets_total == 0


def test_device_behind_a_failing_gateway_is_never_called_down_first(db: Engine) -> None:
    all_ok(db, T0)
    # the kiosk happens to be polled more often and reaches 3 failures before its router
    poll(db, [fail("kiosk-kemiren-1"), fail("rtr-kemiren")], T0 + MIN)
    poll(db, [fail("kiosk-kemiren-1")], T0 + MIN + 10 * SEC)
    poll(db, [fail("kiosk-kemiren-1")], T0 + MIN + 20 * SEC)
    assert state(db, "kiosk-kemiren-1", T0 + MIN + 20 * SEC) == "up"  # held: verdict pending
    poll(db, [fail("rtr-kemiren")], T0 + 2 * MIN)
    poll(db, [fail("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + 3 * MIN)
    assert state(db, "rtr-kemiren", T0 + 3 * MIN) == "down"
    assert state(db, "kiosk-kemiren-1", T0 + 3 * MIN) == "unreachable"
    with session_scope(db) as s:
        kiosk = [t.to_status for t in transitions(s, kind="device", subject="kiosk-kemiren-1")]
    assert "down" not in kiosk


def test_failing_device_behind_a_healthy_gateway_goes_down(db: Engine) -> None:
    all_ok(db, T0)
    for k in range(1, 4):
        poll(db, [ok("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + k * MIN)
    assert state(db, "kiosk-kemiren-1", T0 + 3 * MIN) == "down"


def test_recovery_of_the_gateway_does_not_call_the_device_behind_down(db: Engine) -> None:
    all_ok(db, T0)
    for k in range(1, 4):
        poll(db, [fail("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + k * MIN)
    assert state(db, "kiosk-kemiren-1", T0 + 3 * MIN) == "unreachable"
    # the router answers again before the kiosk's next poll
    poll(db, [ok("rtr-kemiren")], T0 + 4 * MIN)
    assert state(db, "kiosk-kemiren-1", T0 + 4 * MIN) == "unreachable"
    poll(db, [ok("kiosk-kemiren-1")], T0 + 4 * MIN + 5 * SEC)
    assert state(db, "kiosk-kemiren-1", T0 + 4 * MIN + 5 * SEC) == "up"
    with session_scope(db) as s:
        kiosk = [t.to_status for t in transitions(s, kind="device", subject="kiosk-kemiren-1")]
    assert kiosk == ["up", "unreachable", "up"]


def test_device_still_dead_after_gateway_recovery_goes_down_on_its_own_evidence(
    db: Engine,
) -> None:
    all_ok(db, T0)
    for k in range(1, 4):
        poll(db, [fail("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + k * MIN)
    poll(db, [ok("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + 4 * MIN)
    poll(db, [ok("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + 5 * MIN)
    assert state(db, "kiosk-kemiren-1", T0 + 5 * MIN) == "unreachable"
    poll(db, [ok("rtr-kemiren"), fail("kiosk-kemiren-1")], T0 + 6 * MIN)
    assert state(db, "kiosk-kemiren-1", T0 + 6 * MIN) == "down"


def test_state_of_devices_removed_from_inventory_is_dropped(db: Engine) -> None:
    all_ok(db, T0)
    with session_scope(db) as s:
        s.delete(s.get(Device, "kiosk-kemiren-1"))
    with session_scope(db) as s:
        recompute_states(s, policy=POLICY, now=T0 + MIN)
    with session_scope(db) as s:
        ids = {v.device_id for v in device_states(s, policy=POLICY, now=T0 + MIN)}
        history = transitions(s, kind="device", subject="kiosk-kemiren-1")
    assert ids == {"olt-glagah", "rtr-kemiren"}
    assert history  # the history stays for availability reports


def test_two_polls_of_one_device_in_one_batch_both_count(db: Engine) -> None:
    all_ok(db, T0)
    first, second, third = fail("rtr-kemiren"), fail("rtr-kemiren"), fail("rtr-kemiren")
    first.started_at, second.started_at, third.started_at = (T0 + k * SEC for k in (1, 2, 3))
    poll(db, [third, first, second], T0 + 4 * SEC)
    assert state(db, "rtr-kemiren", T0 + 4 * SEC) == "down"
