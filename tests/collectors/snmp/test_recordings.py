"""Interfaces on recordings of real devices (and a synthetic 2,000-port switch) served by
snmpsim, value by value against net-snmp's ``snmpbulkwalk`` of the same agent.

snmpsim caps each reply at 64 varbinds, as many embedded agents do, so the large walks
exercise the adaptive max-repetitions and the walk without a request cap.
"""

from __future__ import annotations

import pytest

from collectors.base import InterfaceSample, Observation
from collectors.snmp import SnmpCollector
from tests.collectors.snmp.conftest import BIG_INTERFACES, RecordedAgents

pytestmark = pytest.mark.integration

IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X = "1.3.6.1.2.1.31.1.1.1"
READ = {  # column OID → what Kentongan reads from it
    f"{IF_TABLE}.2": "descr", f"{IF_TABLE}.5": "speed", f"{IF_TABLE}.7": "admin",
    f"{IF_TABLE}.8": "oper", f"{IF_TABLE}.10": "in32", f"{IF_TABLE}.13": "in_discards",
    f"{IF_TABLE}.14": "in_errors", f"{IF_TABLE}.16": "out32", f"{IF_TABLE}.19": "out_discards",
    f"{IF_TABLE}.20": "out_errors", f"{IF_X}.1": "name", f"{IF_X}.6": "in64",
    f"{IF_X}.10": "out64", f"{IF_X}.15": "high_speed", f"{IF_X}.18": "alias",
}


def _text(typ: str, val: str) -> str:
    if typ == "Hex-STRING":
        return bytes.fromhex(val.replace(" ", "")).decode("utf-8", "replace")
    return val


def reference(recorded: RecordedAgents, name: str) -> dict[int, dict[str, str]]:
    """ifIndex → field → net-snmp's value text, for the columns Kentongan reads."""
    ref: dict[int, dict[str, str]] = {}
    for table in (IF_TABLE, IF_X):
        for oid, (typ, val) in recorded.bulkwalk(name, table).items():
            col, _, idx = oid.rpartition(".")
            field = READ.get(col)
            if field is not None and not typ.startswith("No "):  # noSuch…, endOfMibView
                ref.setdefault(int(idx), {})[field] = _text(typ, val)
    return ref


def check_interface(i: InterfaceSample, r: dict[str, str]) -> None:
    """One interface against net-snmp, after the documented fallbacks."""
    assert i.name == (r.get("name") or r.get("descr")), i.index
    assert (i.alias or None) == (r.get("alias") or None) or "alias" not in r, i.index
    if "in64" in r or "out64" in r:
        assert i.counter_bits == 64
        assert i.in_octets == (int(r["in64"]) if "in64" in r else None)
        assert i.out_octets == (int(r["out64"]) if "out64" in r else None)
    else:
        assert i.counter_bits == 32
        assert i.in_octets == (int(r["in32"]) if "in32" in r else None)
        assert i.out_octets == (int(r["out32"]) if "out32" in r else None)
    for f in ("in_errors", "out_errors", "in_discards", "out_discards"):
        assert getattr(i, f) == (int(r[f]) if f in r else None), (i.index, f)
    assert i.admin_up == (None if "admin" not in r else r["admin"] == "1")
    assert i.oper_up == (None if "oper" not in r else r["oper"] == "1")
    if "high_speed" in r:
        assert i.high_speed_mbps == int(r["high_speed"])
    elif "speed" in r and int(r["speed"]) < 2**32 - 1:
        assert i.high_speed_mbps == int(r["speed"]) // 1_000_000
    else:
        assert i.high_speed_mbps is None


async def poll(recorded: RecordedAgents, name: str, role: str, **kw: float) -> Observation:
    """One poll of recording ``name``."""
    collector = SnmpCollector(**kw)  # type: ignore[arg-type]
    try:
        return await collector.collect(recorded.target(name, role, timeout=5.0))
    finally:
        await collector.aclose()


@pytest.mark.parametrize(("name", "role"), [
    ("eatonups", "ups"),  # no ifXTable: 32-bit counters and ifDescr
    ("vrp_5720", "switch"),
    ("airos-af-ltu", "access_point"),
    ("zxa10_c320", "olt"),
    ("routeros", "router"),
])
async def test_interfaces_match_net_snmp(recorded: RecordedAgents, name: str, role: str) -> None:
    ref = reference(recorded, name)
    obs = await poll(recorded, name, role)
    assert obs.ok, obs.reason
    assert sorted(i.index for i in obs.interfaces) == sorted(ref)
    assert obs.interfaces, "the recording has interfaces"
    for i in obs.interfaces:
        check_interface(i, ref[i.index])


async def test_ups_without_ifxtable_uses_32_bit_counters_and_ifdescr(
    recorded: RecordedAgents,
) -> None:
    obs = await poll(recorded, "eatonups", "ups")
    assert obs.ok, obs.reason
    (eth,) = obs.interfaces
    assert eth.name == "UM9008" and eth.counter_bits == 32
    assert eth.in_octets == 4192067549 and eth.high_speed_mbps == 10


async def test_2000_interface_switch_polls_through_a_64_varbind_cap(
    recorded: RecordedAgents,
) -> None:
    ref = reference(recorded, "big2000")
    assert len(ref) == BIG_INTERFACES
    collector = SnmpCollector(poll_budget=120.0)
    tgt = recorded.target("big2000", "switch", timeout=5.0)
    try:
        first = await collector.collect(tgt)
        second = await collector.collect(tgt)
    finally:
        await collector.aclose()
    for obs in (first, second):
        assert obs.ok, obs.reason
        assert [i.index for i in obs.interfaces] == sorted(ref)
        for i in obs.interfaces:
            check_interface(i, ref[i.index])
    # 2,000 rows × 12 columns at 64 varbinds a reply: at least 375 requests on the first poll;
    # once the cap is learnt, the second asks for no more than fits (no wasted requests).
    cells = BIG_INTERFACES * 12
    assert cells // 64 <= int(first.extra["requests"])  # type: ignore[call-overload]
    assert int(second.extra["requests"]) <= cells // 60 + 20  # type: ignore[call-overload]


async def test_walk_fails_clearly_when_the_time_budget_is_spent(
    recorded: RecordedAgents,
) -> None:
    obs = await poll(recorded, "big2000", "switch", poll_budget=0.0)
    assert not obs.ok
    assert obs.reason is not None and "time budget" in obs.reason
    assert obs.interfaces == []


async def test_collector_walk_matches_snmpbulkwalk(recorded: RecordedAgents) -> None:
    from collectors import ber

    tree = "1.3.6.1.4.1.2011.5.25.31.1.1.3.1"
    ref = recorded.bulkwalk("vrp_5720", tree)
    collector = SnmpCollector()
    try:
        rows = await collector.walk(recorded.target("vrp_5720", "switch", timeout=5.0), tree)
    finally:
        await collector.aclose()
    got = {ber.oid_text(o): v for o, _, v in rows}
    assert list(got) == list(ref)  # same OIDs, same order
    for oid, (typ, val) in ref.items():
        v = got[oid]
        if typ == "INTEGER":
            assert v == int(val), oid
        elif typ == "STRING":
            assert isinstance(v, bytes) and v.decode() == val, oid
