"""The poll logic against an in-memory agent behind the Transport interface (no network)."""

from __future__ import annotations

from collectors import ber
from collectors.base import Target
from collectors.snmp import SnmpCollector, Transport
from tests.collectors.snmp.conftest import v2c
from tests.collectors.snmp.fakes import FakeAgent, Value


def if_table(n: int, *, with_ifx: bool = True) -> dict[str, Value]:
    """sysUpTime/sysName/sysDescr and an ``n``-row interface table."""
    t: dict[str, Value] = {
        "1.3.6.1.2.1.1.1.0": (ber.OCTET_STRING, b"fake agent"),
        "1.3.6.1.2.1.1.3.0": (ber.TIMETICKS, 4242),
        "1.3.6.1.2.1.1.5.0": (ber.OCTET_STRING, b"fake"),
    }
    for i in range(1, n + 1):
        t[f"1.3.6.1.2.1.2.2.1.2.{i}"] = (ber.OCTET_STRING, f"port{i}".encode())
        t[f"1.3.6.1.2.1.2.2.1.7.{i}"] = (ber.INTEGER, 1)
        t[f"1.3.6.1.2.1.2.2.1.8.{i}"] = (ber.INTEGER, 1 if i % 2 else 2)
        t[f"1.3.6.1.2.1.2.2.1.10.{i}"] = (ber.COUNTER32, i * 11)
        t[f"1.3.6.1.2.1.2.2.1.16.{i}"] = (ber.COUNTER32, i * 13)
        for col in (13, 14, 19, 20):
            t[f"1.3.6.1.2.1.2.2.1.{col}.{i}"] = (ber.COUNTER32, col)
        if with_ifx:
            t[f"1.3.6.1.2.1.31.1.1.1.1.{i}"] = (ber.OCTET_STRING, f"Gi0/{i}".encode())
            t[f"1.3.6.1.2.1.31.1.1.1.6.{i}"] = (ber.COUNTER64, i * 2**40)
            t[f"1.3.6.1.2.1.31.1.1.1.10.{i}"] = (ber.COUNTER64, i * 2**41)
            t[f"1.3.6.1.2.1.31.1.1.1.15.{i}"] = (ber.GAUGE32, 1000)
            t[f"1.3.6.1.2.1.31.1.1.1.18.{i}"] = (ber.OCTET_STRING, b"")
    return t


def router(port: int = 1161) -> Target:
    """A router target (the fake ignores the address)."""
    return Target("fake-rtr", "router", "127.0.0.1", snmp_port=port, snmp=v2c("public"),
                  timeout=0.5, retries=0)


def test_fake_is_a_transport() -> None:
    assert isinstance(FakeAgent({}), Transport)


async def test_walk_reads_every_row_from_the_fake() -> None:
    agent = FakeAgent(if_table(5))
    collector = SnmpCollector(transport=agent)
    obs = await collector.collect(router())
    assert obs.ok, obs.reason
    assert [i.index for i in obs.interfaces] == [1, 2, 3, 4, 5]
    assert [i.name for i in obs.interfaces] == [f"Gi0/{i}" for i in range(1, 6)]
    assert [i.in_octets for i in obs.interfaces] == [i * 2**40 for i in range(1, 6)]
    assert obs.sys_name == "fake" and obs.sys_uptime_ticks == 4242
    assert all(p.tag == ber.GET_BULK_REQUEST for p in agent.requests)
