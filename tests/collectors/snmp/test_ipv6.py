"""IPv6 management addresses: one dual-stack socket polls IPv4 and IPv6 agents alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collectors.simfleet.snmpd import start_snmpd
from collectors.snmp import SnmpCollector
from tests.collectors.snmp.conftest import USERS, target, v2c, v3
from tests.support.ports import free_port


@pytest.mark.integration
async def test_snmpd_on_ipv6_loopback(tmp_path: Path) -> None:
    port4, port6 = free_port(kind="udp"), free_port("::1", kind="udp")
    user = USERS["sha-aes"]
    agent = start_snmpd(
        workdir=tmp_path / "snmpd6",
        endpoints=[("127.0.0.1", port4), ("::1", port6)],
        users=[user],
        sys_name="rtr-ipv6",
        extra_conf="rocommunity6 public ::1/128\n",
    )
    collector = SnmpCollector()
    try:
        over6, over4, over6_v3 = await asyncio.gather(
            collector.collect(target("rtr-v6", "router", "::1", port6, v2c("public"))),
            collector.collect(target("rtr-v4", "router", "127.0.0.1", port4, v2c("public"))),
            collector.collect(target("rtr-v6-v3", "router", "::1", port6, v3(user))),
        )
    finally:
        await collector.aclose()
        agent.stop()
    for obs in (over6, over4, over6_v3):
        assert obs.ok, obs.reason
        assert obs.sys_name == "rtr-ipv6"
        assert obs.interfaces, "IF-MIB rows expected"
    assert {i.index for i in over6.interfaces} == {i.index for i in over4.interfaces}
