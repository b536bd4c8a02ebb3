"""The fast path against Debian's net-snmp snmpd, value by value against snmpget/snmpbulkwalk
and against pysnmp 7 on the same agent, for v2c and v3 authPriv."""

from __future__ import annotations

from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMACSHAAuthProtocol,
)
from pysnmp.proto.rfc1902 import OctetString

from collectors import ber
from collectors.base import SnmpCredentials
from collectors.profiles import ProfileSet
from collectors.simfleet.snmpd import SnmpdAgent
from collectors.snmp import MODULES, SnmpCollector, UdpTransport
from collectors.usm import UsmUser
from tests.collectors.snmp.conftest import USERS, NetSnmpTools, target, v2c, v3
from tests.collectors.snmp.fakes import RecordingTransport, v3_request_pdu

pytestmark = pytest.mark.integration

SYS = {"sys_uptime": "1.3.6.1.2.1.1.3.0", "sys_name": "1.3.6.1.2.1.1.5.0",
       "sys_descr": "1.3.6.1.2.1.1.1.0"}
IF = {f: o for m in MODULES if m.name == "if_mib" for f, o in (*m.columns, *m.slow_columns)}
COUNTERS = ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards")
CREDS = {
    "v2c": v2c("public"),
    **{name: v3(u) for name, u in USERS.items()},
}


async def pysnmp_values(creds: SnmpCredentials, agent: SnmpdAgent, scalars: list[str],
                        columns: list[str]) -> dict[str, Any]:
    """The same OIDs read through pysnmp 7's high-level API (the reference)."""
    engine = SnmpEngine()
    auth: CommunityData | UsmUserData
    if creds.version == "2c":
        assert creds.community is not None
        auth = CommunityData(creds.community.get(), mpModel=1)
    else:
        assert creds.auth_key is not None and creds.priv_key is not None and creds.user
        auth = UsmUserData(
            creds.user, creds.auth_key.get(), creds.priv_key.get(),
            authProtocol={"sha": usmHMACSHAAuthProtocol,
                          "sha256": usmHMAC192SHA256AuthProtocol}[creds.auth or ""],
            privProtocol={"aes": usmAesCfb128Protocol,
                          "aes256": usmAesBlumenthalCfb256Protocol}[creds.priv or ""],
        )
    tgt = await UdpTransportTarget.create((agent.address, agent.port), timeout=2, retries=1)
    out: dict[str, Any] = {}

    def put(vbs: Any) -> None:
        for name, val in vbs:
            out[str(name)] = bytes(val).decode() if isinstance(val, OctetString) else int(val)

    try:
        err, status, _, vbs = await get_cmd(engine, auth, tgt, ContextData(),
                                            *(ObjectType(ObjectIdentity(o)) for o in scalars))
        assert err is None and not status, err
        put(vbs)
        for col in columns:
            async for err, status, _, vbs in bulk_walk_cmd(
                engine, auth, tgt, ContextData(), 0, 25, ObjectType(ObjectIdentity(col)),
                lexicographicMode=False,
            ):
                assert err is None and not status, err
                put(vbs)
    finally:
        engine.close_dispatcher()
    return out


def netsnmp_values(tools: NetSnmpTools, creds: SnmpCredentials, scalars: list[str],
                   columns: list[str]) -> dict[str, str]:
    vals = tools.get(creds, scalars)
    for col in columns:
        vals.update(tools.bulkwalk(creds, col))
    return vals


def within(lo: Any, x: Any, hi: Any) -> bool:
    return int(lo) <= int(x) <= int(hi)


@pytest.mark.parametrize("cred_name", list(CREDS))
async def test_router_values_match_net_snmp_and_pysnmp(
    cred_name: str, snmpd: SnmpdAgent, netsnmp: NetSnmpTools, collector: SnmpCollector
) -> None:
    creds = CREDS[cred_name]
    scalars, columns = list(SYS.values()), list(IF.values())
    before = netsnmp_values(netsnmp, creds, scalars, columns)
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port, creds))
    ref = await pysnmp_values(creds, snmpd, scalars, columns)
    after = netsnmp_values(netsnmp, creds, scalars, columns)
    assert obs.ok, obs.reason
    assert obs.sys_name == before[SYS["sys_name"]] == ref[SYS["sys_name"]] == "rtr-snmpd"
    assert obs.sys_descr == before[SYS["sys_descr"]] == ref[SYS["sys_descr"]]
    assert within(before[SYS["sys_uptime"]], obs.sys_uptime_ticks, ref[SYS["sys_uptime"]])
    assert within(ref[SYS["sys_uptime"]], ref[SYS["sys_uptime"]], after[SYS["sys_uptime"]])
    indexes = sorted(int(o.rsplit(".", 1)[1]) for o in before if o.startswith(IF["oper_status"]))
    assert indexes and [i.index for i in obs.interfaces] == indexes
    compared = 0
    for i in obs.interfaces:
        def key(field: str, idx: int = i.index) -> str:
            return f"{IF[field]}.{idx}"
        assert i.name == before[key("name")] == ref[key("name")]
        assert i.alias == before[key("alias")] == ref[key("alias")]
        assert i.admin_up == (int(before[key("admin_status")]) == 1)
        assert i.oper_up == (int(before[key("oper_status")]) == 1) == (
            ref[key("oper_status")] == 1)
        assert i.high_speed_mbps == int(before[key("high_speed_mbps")]) == ref[
            key("high_speed_mbps")]
        for field in COUNTERS:
            ours = getattr(i, field)
            assert within(before[key(field)], ours, ref[key(field)]), (field, i.index)
            assert within(ref[key(field)], ref[key(field)], after[key(field)])
            compared += 1
    assert compared == len(indexes) * len(COUNTERS)


@pytest.mark.parametrize("cred_name", ["v2c", "sha256-aes256"])
async def test_kiosk_values_match_net_snmp(
    cred_name: str, snmpd: SnmpdAgent, netsnmp: NetSnmpTools, collector: SnmpCollector
) -> None:
    creds = CREDS[cred_name]
    storage = "1.3.6.1.2.1.25.2.3.1"
    ver = "1.3.6.1.4.1.8072.1.3.2.3.1.1.17." + ".".join(str(b) for b in b"kiosk-app-version")
    act = "1.3.6.1.4.1.8072.1.3.2.3.1.1.16." + ".".join(str(b) for b in b"kiosk-app-active")
    before = netsnmp_values(netsnmp, creds, ["1.3.6.1.2.1.25.1.1.0", ver, act], [storage])
    obs = await collector.collect(target("kiosk", "kiosk", snmpd.address, snmpd.port, creds))
    after = netsnmp_values(netsnmp, creds, ["1.3.6.1.2.1.25.1.1.0"], [storage])
    assert obs.ok, obs.reason
    assert obs.kiosk is not None
    assert obs.kiosk.app_version == before[ver] == "2.3.1"
    assert obs.kiosk.app_active is (before[act] == "active") is True
    root = next(o.rsplit(".", 1)[1] for o, v in before.items()
                if o.startswith(storage + ".3.") and v == "/")
    units = int(before[f"{storage}.4.{root}"])
    assert obs.kiosk.disk_total_bytes == units * int(before[f"{storage}.5.{root}"])
    frees = [units * (int(v[f"{storage}.5.{root}"]) - int(v[f"{storage}.6.{root}"]))
             for v in (before, after)]
    assert min(frees) <= (obs.kiosk.disk_free_bytes or -1) <= max(frees)
    assert obs.kiosk.uptime_seconds is not None
    assert within(before["1.3.6.1.2.1.25.1.1.0"], obs.kiosk.uptime_seconds * 100,
                  after["1.3.6.1.2.1.25.1.1.0"])


@pytest.mark.parametrize("cred_name", ["v2c", "sha-aes"])
async def test_ups_values_match_net_snmp(
    cred_name: str, snmpd: SnmpdAgent, netsnmp: NetSnmpTools, collector: SnmpCollector
) -> None:
    creds = CREDS[cred_name]
    oids = ["1.3.6.1.2.1.33.1.4.1.0", "1.3.6.1.2.1.33.1.2.4.0", "1.3.6.1.2.1.33.1.2.3.0"]
    ref = netsnmp.get(creds, oids)
    obs = await collector.collect(target("ups", "ups", snmpd.address, snmpd.port, creds))
    assert obs.ok, obs.reason
    assert obs.ups is not None
    assert obs.ups.on_battery is (ref[oids[0]] == "5") is True
    assert obs.ups.charge_percent == float(ref[oids[1]]) == 87.0
    assert obs.ups.minutes_remaining == float(ref[oids[2]]) == 42.0


async def test_slow_columns_cached_and_engine_discovered_once(snmpd: SnmpdAgent) -> None:
    recorder = RecordingTransport(UdpTransport())
    collector = SnmpCollector(slow_every=3, transport=recorder, profiles=ProfileSet.empty())
    user = UsmUser(CREDS["sha-aes"])
    tgt = target("rtr-v3", "router", snmpd.address, snmpd.port, CREDS["sha-aes"])
    try:
        results = [await collector.collect(tgt) for _ in range(4)]
    finally:
        await collector.aclose()
    assert all(o.ok for o in results), [o.reason for o in results]
    sent = [[ber.oid_text(o) for o, _, _ in v3_request_pdu(r.payload, user).varbinds]
            for r in recorder.sent]
    assert [o.extra["requests"] for o in results] == [2, 1, 1, 1]  # discovery only once
    assert sent[0] == []  # the discovery probe carries no varbinds
    assert [o.extra["slow_refreshed"] for o in results] == [True, False, False, True]
    if_name = IF["name"]
    walked_names = [if_name in req for req in sent[1:]]
    assert walked_names == [True, False, False, True]
    # names still present on the polls that used the cache
    assert all(i.name for o in results for i in o.interfaces)
    assert [i.name for i in results[1].interfaces] == [i.name for i in results[0].interfaces]
