"""Faults: silent agents, wrong credentials, an agent killed mid-walk, garbage replies, replies
from the wrong source or with the wrong request-id. None of them delays or breaks the polls
of healthy devices running at the same time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors import ber
from collectors.simfleet.snmpd import SnmpdAgent
from collectors.snmp import SnmpCollector
from tests.collectors.snmp.conftest import USERS, UdpRelay, _UdpPeer, target, v2c, v3
from tests.support.peers import netsnmp_agent

pytestmark = pytest.mark.integration

TIMEOUT = 0.5


async def test_agent_that_never_answers(silent_agent: _UdpPeer, collector: SnmpCollector) -> None:
    t0 = time.perf_counter()
    obs = await collector.collect(target("mute", "router", "127.0.0.1", silent_agent.port,
                                         v2c("public"), timeout=TIMEOUT, retries=2))
    elapsed = time.perf_counter() - t0
    assert not obs.ok and obs.reason == "timeout"
    assert obs.interfaces == [] and obs.sys_uptime_ticks is None
    assert silent_agent.received == 3  # first try + 2 retries
    assert 3 * TIMEOUT * 0.9 <= elapsed < 3 * TIMEOUT + 1.0


async def test_wrong_community_is_a_timeout(snmpd: SnmpdAgent, collector: SnmpCollector) -> None:
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port,
                                         v2c("not-the-community"), timeout=TIMEOUT))
    assert not obs.ok and obs.reason == "timeout"


async def test_wrong_v3_auth_key(snmpd: SnmpdAgent, collector: SnmpCollector) -> None:
    creds = v3(USERS["sha-aes"], auth_key="definitely-wrong")
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port, creds))
    assert not obs.ok and obs.reason == "authentication failed"


async def test_wrong_v3_auth_key_sha256(snmpd: SnmpdAgent, collector: SnmpCollector) -> None:
    creds = v3(USERS["sha256-aes256"], auth_key="definitely-wrong")
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port, creds))
    assert not obs.ok and obs.reason == "authentication failed"


async def test_unknown_v3_user(snmpd: SnmpdAgent, collector: SnmpCollector) -> None:
    creds = v3(USERS["sha-aes"], name="nobody-here")
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port, creds))
    assert not obs.ok and obs.reason == "unknown user name"


async def test_wrong_v3_priv_key(snmpd: SnmpdAgent, collector: SnmpCollector) -> None:
    creds = v3(USERS["sha-aes"], priv_key="wrong-privacy-key")
    obs = await collector.collect(target("rtr", "router", snmpd.address, snmpd.port, creds,
                                         timeout=TIMEOUT))
    assert not obs.ok  # snmpd cannot parse what it decrypts and stays silent
    assert obs.reason in ("timeout", "decryption failed")
    assert obs.interfaces == []


@pytest.fixture
def doomed_snmpd(tmp_path: Path) -> Iterator[SnmpdAgent]:
    """An snmpd of its own, to be killed by the test."""
    with netsnmp_agent(tmp_path / "doomed", sys_name="doomed") as agent:
        yield agent


async def test_agent_killed_in_the_middle_of_a_walk(doomed_snmpd: SnmpdAgent) -> None:
    relay = UdpRelay((doomed_snmpd.address, doomed_snmpd.port),
                     lambda n: doomed_snmpd.kill() if n == 1 else None)
    collector = SnmpCollector(max_repetitions=1)  # the walk needs one request per row
    try:
        obs = await collector.collect(target("rtr", "router", "127.0.0.1", relay.port,
                                             v2c("public"), timeout=TIMEOUT))
    finally:
        await collector.aclose()
        relay.close()
    assert relay.replies == 1
    assert doomed_snmpd.process is not None and doomed_snmpd.process.poll() is not None
    assert not obs.ok
    assert obs.reason == "timeout in the middle of a poll (agent stopped answering)"
    assert obs.interfaces == [] and obs.sys_name is None  # partial data is not presented


async def test_garbage_and_truncated_replies(garbage_agent: _UdpPeer,
                                             collector: SnmpCollector) -> None:
    obs = await collector.collect(target("junk", "router", "127.0.0.1", garbage_agent.port,
                                         v2c("public"), timeout=TIMEOUT))
    assert not obs.ok
    assert obs.reason is not None and obs.reason.startswith("malformed reply")
    assert collector.transport.dropped >= 8


def _wrong_id(data: bytes, addr: tuple[str, int], sock: socket.socket) -> None:
    req = ber.decode_v2c_message(data)
    vbl = ber.encode_response_varbinds([(ber.oid("1.3.6.1.2.1.1.3.0"), ber.TIMETICKS, 1)])
    sock.sendto(ber.encode_v2c_message(
        req.community, ber.encode_pdu(ber.RESPONSE, req.pdu.request_id + 1, 0, 0, vbl)), addr)


async def test_reply_with_wrong_request_id_is_dropped(collector: SnmpCollector) -> None:
    peer = _UdpPeer(_wrong_id)
    try:
        obs = await collector.collect(target("liar", "ups", "127.0.0.1", peer.port,
                                             v2c("public"), timeout=TIMEOUT, retries=0))
    finally:
        peer.close()
    assert not obs.ok and obs.reason == "timeout"
    assert collector.transport.dropped >= 1


class _WrongSource:
    """Forwards to snmpd and sends the genuine reply back from another port."""

    def __init__(self, agent: SnmpdAgent) -> None:
        self.agent = agent
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.upstream.settimeout(2)
        self.peer = _UdpPeer(self._handle)

    def _handle(self, data: bytes, addr: tuple[str, int], sock: socket.socket) -> None:
        self.upstream.sendto(data, (self.agent.address, self.agent.port))
        reply, _ = self.upstream.recvfrom(65535)
        self.other.sendto(reply, addr)

    def close(self) -> None:
        self.peer.close()
        self.other.close()
        self.upstream.close()


async def test_reply_from_wrong_source_is_dropped(snmpd: SnmpdAgent,
                                                  collector: SnmpCollector) -> None:
    spoof = _WrongSource(snmpd)
    try:
        obs = await collector.collect(target("spoofed", "ups", "127.0.0.1", spoof.peer.port,
                                             v2c("public"), timeout=TIMEOUT, retries=0))
    finally:
        spoof.close()
    assert not obs.ok and obs.reason == "timeout"


async def test_faults_do_not_delay_healthy_devices(
    snmpd: SnmpdAgent, silent_agent: _UdpPeer, garbage_agent: _UdpPeer
) -> None:
    collector = SnmpCollector(max_concurrency=64)
    faulty = [
        target(f"mute-{i}", "router", "127.0.0.1", silent_agent.port, v2c("public"),
               timeout=2.0, retries=1) for i in range(10)
    ] + [
        target(f"junk-{i}", "router", "127.0.0.1", garbage_agent.port, v2c("public"),
               timeout=2.0, retries=1) for i in range(10)
    ] + [
        target(f"badkey-{i}", "router", snmpd.address, snmpd.port,
               v3(USERS["sha-aes"], auth_key="wrong-key-here"), timeout=2.0) for i in range(5)
    ] + [
        target(f"badcomm-{i}", "router", snmpd.address, snmpd.port, v2c("nope"), timeout=2.0)
        for i in range(5)
    ]
    healthy = [
        target(f"ok-{i}", role, snmpd.address, snmpd.port, creds, timeout=2.0)
        for i in range(8)
        for role, creds in (("router", v2c("public")), ("kiosk", v3(USERS["sha-aes"])),
                            ("ups", v3(USERS["sha256-aes256"])))
    ]
    try:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(collector.collect(t) for t in [*faulty, *healthy]))
        total = time.perf_counter() - t0
        bad, good = results[: len(faulty)], results[len(faulty):]
        assert not any(o.ok for o in bad)
        assert all(o.ok for o in good), [(o.device_id, o.reason) for o in good if not o.ok]
        # healthy polls finished long before the faulty ones gave up (after 2 x 2 s)
        assert max(o.duration_seconds for o in good) < 1.5, sorted(
            o.duration_seconds for o in good)[-3:]
        assert min(o.duration_seconds for o in bad if o.reason == "timeout") >= 3.9
        assert total >= 3.9
        # and the shared socket still works afterwards
        again = await collector.collect(healthy[0])
        assert again.ok
    finally:
        await collector.aclose()
