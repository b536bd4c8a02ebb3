"""The poll logic against an in-memory agent behind the Transport interface (no network)."""

from __future__ import annotations

from collectors import ber
from collectors.base import Target
from collectors.profiles import ProfileSet
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


async def test_no_ifxtable_reads_32_bit_counters_and_ifdescr_then_skips_ifx() -> None:
    agent = FakeAgent(if_table(4, with_ifx=False))
    collector = SnmpCollector(transport=agent)
    first = await collector.collect(router())
    n_first = len(agent.requests)
    second = await collector.collect(router())
    for obs in (first, second):
        assert obs.ok, obs.reason
        assert [i.name for i in obs.interfaces] == [f"port{i}" for i in range(1, 5)]
        assert [i.in_octets for i in obs.interfaces] == [i * 11 for i in range(1, 5)]
        assert [i.out_octets for i in obs.interfaces] == [i * 13 for i in range(1, 5)]
        assert all(i.counter_bits == 32 for i in obs.interfaces)
    hc = ber.oid("1.3.6.1.2.1.31.1.1.1.6")
    assert any(o.startswith(hc) for p in agent.requests[:n_first] for o, _, _ in p.varbinds)
    assert not any(o.startswith(hc) for p in agent.requests[n_first:] for o, _, _ in p.varbinds)


async def test_with_ifxtable_the_32_bit_columns_are_dropped_after_the_first_poll() -> None:
    agent = FakeAgent(if_table(3))
    collector = SnmpCollector(transport=agent)
    await collector.collect(router())
    n_first = len(agent.requests)
    obs = await collector.collect(router())
    assert obs.ok and all(i.counter_bits == 64 for i in obs.interfaces)
    in32 = ber.oid("1.3.6.1.2.1.2.2.1.10")
    assert not any(o.startswith(in32) for p in agent.requests[n_first:] for o, _, _ in p.varbinds)


async def test_too_big_halves_max_repetitions_and_the_walk_completes() -> None:
    agent = FakeAgent(if_table(300), max_varbinds=10_000, too_big_above=400)
    collector = SnmpCollector(transport=agent, max_repetitions=16)
    obs = await collector.collect(router())
    assert obs.ok, obs.reason
    assert len(obs.interfaces) == 300
    bulk = [p for p in agent.requests if p.tag == ber.GET_BULK_REQUEST]
    assert all(p.error_index * len(p.varbinds) <= 400 * 2 for p in bulk)
    # later requests fit under the limit: at most one tooBig per poll once learnt
    agent.requests.clear()
    again = await collector.collect(router())
    assert again.ok and len(again.interfaces) == 300
    sizes = [p.error_status + p.error_index * (len(p.varbinds) - p.error_status)
             for p in agent.requests]
    assert sum(s > 400 for s in sizes) == 0


async def test_max_repetitions_grows_while_replies_come_back_full() -> None:
    agent = FakeAgent(if_table(1000), max_varbinds=100_000)
    collector = SnmpCollector(transport=agent, max_repetitions=4)
    obs = await collector.collect(router())
    assert obs.ok and len(obs.interfaces) == 1000
    reps = [p.error_index for p in agent.requests]
    assert reps[0] == 4 and max(reps) > 64  # doubled instead of 250 requests of 4 rows
    assert len(agent.requests) < 20


async def test_a_grown_table_is_read_to_its_end() -> None:
    small, big = if_table(10), if_table(500)
    agent = FakeAgent(small, max_varbinds=64)
    collector = SnmpCollector(transport=agent)
    assert len((await collector.collect(router())).interfaces) == 10
    agent.load(big)  # the switch got 490 more ports
    obs = await collector.collect(router())
    assert obs.ok, obs.reason
    assert len(obs.interfaces) == 500


class LoopingAgent(FakeAgent):
    """An agent whose ifOperStatus walk restarts from its first row (a broken agent)."""

    def _after(self, sub: tuple[int, ...]) -> tuple[tuple[int, ...], Value]:
        col = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
        if sub[: len(col)] == col and sub != col and sub[-1] >= 3:
            return self._by_sub_first(col)
        return super()._after(sub)

    def _by_sub_first(self, col: tuple[int, ...]) -> tuple[tuple[int, ...], Value]:
        return super()._after(col)


async def test_a_looping_agent_fails_the_poll_instead_of_walking_forever() -> None:
    agent = LoopingAgent(if_table(5))
    collector = SnmpCollector(transport=agent, poll_budget=30.0)
    obs = await collector.collect(router())
    assert not obs.ok
    assert obs.reason is not None and "does not advance" in obs.reason
    assert len(agent.requests) < 10


async def test_a_profile_costs_nothing_after_the_first_poll_where_it_reads_nothing() -> None:
    table = if_table(3)
    table["1.3.6.1.2.1.1.2.0"] = (ber.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10))
    with_profiles = FakeAgent(dict(table))
    bare = FakeAgent(dict(table))
    a = SnmpCollector(transport=with_profiles)
    b = SnmpCollector(transport=bare, profiles=ProfileSet.empty())
    first = await a.collect(router())
    await b.collect(router())
    assert first.ok and first.profile == "net-snmp-linux" and first.sensors == []
    assert len(with_profiles.requests) > len(bare.requests)  # the first poll looked
    n_with, n_bare = len(with_profiles.requests), len(bare.requests)
    second = await a.collect(router())
    await b.collect(router())
    assert second.ok and second.extra["profile_tables"] == 0
    assert len(with_profiles.requests) - n_with == len(bare.requests) - n_bare
