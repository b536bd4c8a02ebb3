"""Real SNMP peers for the SNMP collector's tests: net-snmp snmpd, snmpsim, faulty agents."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.base import Secret, SnmpCredentials, Target
from collectors.simfleet import SimDevice, SimFleet, probe
from collectors.simfleet.snmpd import SnmpdAgent, SnmpdUser
from collectors.snmp import SnmpCollector
from tests.support.peers import netsnmp_agent, snmpsim_fleet

USERS = {
    "sha-aes": SnmpdUser("mon-sha", "SHA", "auth-key-sha1", "AES", "priv-key-aes128"),
    "sha256-aes256": SnmpdUser("mon-sha256", "SHA-256", "auth-key-sha256", "AES-256",
                               "priv-key-aes256"),
    "sha-aes256": SnmpdUser("mon-mixed", "SHA", "auth-key-mixed", "AES-256", "priv-key-mixed"),
}
_AUTH = {"SHA": "sha", "SHA-256": "sha256"}
_PRIV = {"AES": "aes", "AES-256": "aes256"}

UPS_OVERRIDES = (
    ("1.3.6.1.2.1.33.1.4.1.0", "integer", "5"),
    ("1.3.6.1.2.1.33.1.2.4.0", "integer", "87"),
    ("1.3.6.1.2.1.33.1.2.3.0", "integer", "42"),
)


def v2c(community: str) -> SnmpCredentials:
    """v2c credentials."""
    return SnmpCredentials(version="2c", community=Secret(community))


def v3(user: SnmpdUser, *, auth_key: str | None = None, priv_key: str | None = None,
       name: str | None = None) -> SnmpCredentials:
    """v3 authPriv credentials for ``user`` (keys overridable to test wrong keys)."""
    return SnmpCredentials(
        version="3", user=name or user.name, auth=_AUTH[user.auth],
        auth_key=Secret(auth_key or user.auth_key), priv=_PRIV[user.priv],
        priv_key=Secret(priv_key or user.priv_key),
    )


def target(device_id: str, role: str, address: str, port: int, creds: SnmpCredentials, *,
           timeout: float = 1.0, retries: int = 1) -> Target:
    """A Target on loopback."""
    return Target(device_id=device_id, role=role, address=address, snmp_port=port,
                  snmp=creds, timeout=timeout, retries=retries)


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    """One net-snmp snmpd: v2c ``public``, three v3 users, kiosk extends, UPS overrides."""
    with netsnmp_agent(
        tmp_path_factory.mktemp("snmpd"),
        users=list(USERS.values()),
        overrides=UPS_OVERRIDES,
        sys_name="rtr-snmpd",
    ) as agent:
        yield agent


@dataclass
class NetSnmpTools:
    """net-snmp's own command-line tools against one agent (the reference)."""

    agent: SnmpdAgent

    def _auth_args(self, creds: SnmpCredentials) -> list[str]:
        if creds.version == "2c":
            assert creds.community is not None
            return ["-v2c", "-c", creds.community.get()]
        assert creds.auth_key is not None and creds.priv_key is not None and creds.user
        auth = {"sha": "SHA", "sha256": "SHA-256"}[creds.auth or ""]
        priv = {"aes": "AES", "aes256": "AES-256"}[creds.priv or ""]
        return ["-v3", "-l", "authPriv", "-u", creds.user, "-a", auth, "-A",
                creds.auth_key.get(), "-x", priv, "-X", creds.priv_key.get()]

    def _run(self, tool: str, creds: SnmpCredentials, oids: list[str]) -> dict[str, str]:
        out = subprocess.run(
            [tool, *self._auth_args(creds), "-On", "-Oq", "-Ot", "-Oe", "-r", "1", "-t", "2",
             f"{self.agent.address}:{self.agent.port}", *oids],
            capture_output=True, text=True, env=self.agent.tool_env(), check=True,
        ).stdout
        values: dict[str, str] = {}
        for line in out.splitlines():
            if not line.startswith("."):
                continue
            oid, _, value = line.partition(" ")
            values[oid.lstrip(".")] = value.strip().strip('"')
        return values

    def get(self, creds: SnmpCredentials, oids: list[str]) -> dict[str, str]:
        """``snmpget``: OID (no leading dot) → value text."""
        return self._run("snmpget", creds, oids)

    def bulkwalk(self, creds: SnmpCredentials, oid: str) -> dict[str, str]:
        """``snmpbulkwalk`` of one subtree."""
        return self._run("snmpbulkwalk", creds, [oid])


@pytest.fixture(scope="session")
def netsnmp(snmpd: SnmpdAgent) -> NetSnmpTools:
    """net-snmp's tools pointed at the session snmpd."""
    return NetSnmpTools(snmpd)


@pytest.fixture
async def collector() -> AsyncIterator[SnmpCollector]:
    """A fresh collector per test (closed afterwards)."""
    c = SnmpCollector(max_concurrency=64)
    try:
        yield c
    finally:
        await c.aclose()


SIM_DEVICES = [
    SimDevice("rtr-kemiren", "router"),
    SimDevice("rtr-flappy", "router", flap=True, flap_period=2.0, flap_down=1.0),
    SimDevice("ont-kemiren", "ont"),
    SimDevice("olt-glagah", "olt"),
    SimDevice("ups-kemiren", "ups", battery_period=2.0, battery_down=1.0),
    SimDevice("kiosk-kemiren-1", "kiosk", app_version="2.4.0"),
    SimDevice("rtr-cut", "router"),
]


@pytest.fixture(scope="session")
def simfleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimFleet]:
    """A small snmpsim fleet (one responder process)."""
    with snmpsim_fleet(SIM_DEVICES, tmp_path_factory.mktemp("simfleet")) as fleet:
        yield fleet


# --------------------------------------------------------------------------- faulty peers


class _UdpPeer:
    """A UDP socket on loopback served by a thread; ``handler(data, addr, sock)``."""

    def __init__(self, handler: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.received = 0
        self._handler = handler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            self._handler(data, addr, self.sock)  # type: ignore[operator]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def silent_agent() -> Iterator[_UdpPeer]:
    """An 'agent' that reads every request and never answers."""
    peer = _UdpPeer(lambda data, addr, sock: None)
    try:
        yield peer
    finally:
        peer.close()


def _garbage(data: bytes, addr: tuple[str, int], sock: socket.socket) -> None:
    sock.sendto(os.urandom(40), addr)  # random bytes
    sock.sendto(b"\x30\x82\xff\xff\x02\x01\x01", addr)  # a length that overruns
    sock.sendto(data[: len(data) // 2], addr)  # the request, truncated
    sock.sendto(data[:-3], addr)  # the request minus its tail (request-id still readable)
    sock.sendto(b"", addr)


@pytest.fixture
def garbage_agent() -> Iterator[_UdpPeer]:
    """An 'agent' that answers every request with garbage and truncated messages."""
    peer = _UdpPeer(_garbage)
    try:
        yield peer
    finally:
        peer.close()


class UdpRelay:
    """Forwards requests to a real agent and its replies back (to kill the agent mid-walk).

    ``on_reply(n)`` runs after the n-th reply was forwarded.
    """

    def __init__(self, upstream: tuple[str, int], on_reply: object) -> None:
        self.upstream = upstream
        self.on_reply = on_reply
        self.replies = 0
        self.client: tuple[str, int] | None = None
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = int(self.front.getsockname()[1])
        for s in (self.front, self.back):
            s.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.front.recvfrom(65535)
                self.client = addr
                self.back.sendto(data, self.upstream)
            except (TimeoutError, OSError):
                pass
            try:
                data, _ = self.back.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            if self.client is not None:
                self.front.sendto(data, self.client)
                self.replies += 1
                self.on_reply(self.replies)  # type: ignore[operator]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.front.close()
        self.back.close()


# --------------------------------------------------------------------------- recordings

RECORDINGS = Path(__file__).resolve().parents[2] / "data" / "snmprec"
BIG_INTERFACES = 2000


def big_switch_recording(n: int = BIG_INTERFACES) -> str:
    """A synthetic ``n``-interface switch (IF-MIB ifTable + ifXTable), deterministic values."""
    lines = [
        "1.3.6.1.2.1.1.1.0|4|synthetic 2000-port switch",
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.99999.1",
        "1.3.6.1.2.1.1.3.0|67|123456",
        "1.3.6.1.2.1.1.5.0|4|big2000",
    ]
    tbl = "1.3.6.1.2.1.2.2.1"
    ifx = "1.3.6.1.2.1.31.1.1.1"
    cols: list[tuple[str, int, str, Callable[[int], object]]] = [
        (tbl, 2, "4", lambda i: f"Ethernet{i}"),
        (tbl, 5, "66", lambda i: 1_000_000_000),
        (tbl, 7, "2", lambda i: 1),
        (tbl, 8, "2", lambda i: 1 if i % 3 else 2),
        (tbl, 10, "65", lambda i: (i * 7919) % 2**32),
        (tbl, 13, "65", lambda i: i % 5),
        (tbl, 14, "65", lambda i: i % 7),
        (tbl, 16, "65", lambda i: (i * 104729) % 2**32),
        (tbl, 19, "65", lambda i: i % 11),
        (tbl, 20, "65", lambda i: i % 13),
        (ifx, 1, "4", lambda i: f"Eth1/{i}"),
        (ifx, 6, "70", lambda i: i * 10**12 + 17),
        (ifx, 10, "70", lambda i: i * 10**11 + 29),
        (ifx, 15, "66", lambda i: 1000),
        (ifx, 18, "4", lambda i: f"uplink desa {i}" if i % 10 == 0 else ""),
    ]
    for base, col, tag, value in cols:  # snmprec lines sorted by OID: column by column
        lines += [f"{base}.{col}.{i}|{tag}|{value(i)}" for i in range(1, n + 1)]
    lines.append("1.3.6.1.6.3.10.2.1.3.0|2|1234")  # snmpEngineTime: the table is not the last
    return "\n".join(lines) + "\n"


@dataclass
class RecordedAgents:
    """One snmpsim responder serving the recordings under ``tests/data/snmprec``."""

    address: str
    port: int
    env: dict[str, str]

    def creds(self, name: str) -> SnmpCredentials:
        """v2c credentials selecting recording ``name``."""
        return v2c(name)

    def target(self, name: str, role: str, *, timeout: float = 2.0) -> Target:
        """A Target polling recording ``name``."""
        return target(name, role, self.address, self.port, v2c(name), timeout=timeout,
                      retries=1)

    def bulkwalk(self, name: str, oid: str) -> dict[str, tuple[str, str]]:
        """net-snmp ``snmpbulkwalk`` of ``oid``: OID (no dot) → (type, value text)."""
        out = subprocess.run(
            ["snmpbulkwalk", "-v2c", "-c", name, "-On", "-Oe", "-OU", "-Ot", "-r", "2", "-t", "5",
             f"{self.address}:{self.port}", oid],
            capture_output=True, text=True, env=self.env, check=True,
        ).stdout
        values: dict[str, tuple[str, str]] = {}
        for line in out.splitlines():
            if not line.startswith(".") or " = " not in line:
                continue
            o, _, rest = line.partition(" = ")
            typ, sep, val = rest.partition(": ")
            if not sep:  # "-Ot" prints TimeTicks bare; an empty string is ""
                typ, val = ("STRING", "") if rest.startswith('""') else ("Timeticks", rest)
            values[o.lstrip(".")] = (typ.strip(), val.strip().strip('"'))
        return values


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordedAgents]:
    """snmpsim (replies capped at 64 varbinds, its default) serving the real recordings and
    the synthetic 2,000-interface switch ``big2000``."""
    work = tmp_path_factory.mktemp("recorded")
    data = work / "data"
    data.mkdir()
    for f in RECORDINGS.glob("*.snmprec"):
        shutil.copy(f, data / f.name)
    (data / "big2000.snmprec").write_text(big_switch_recording())
    tools = work / "tools"
    tools.mkdir()
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(tools), SNMPCONFPATH=str(tools), MIBS="",
               MIBDIRS=str(tools))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    exe = Path(sys.executable).with_name("snmpsim-command-responder")
    args = [str(exe), f"--data-dir={data}", f"--cache-dir={work / 'cache'}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            f"--logging-method=file:{work / 'snmpsim.log'}", "--log-level=error"]
    if os.geteuid() == 0:
        args += ["--process-user=root", "--process-group=root"]
    log = (work / "snmpsim.out").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        deadline = time.monotonic() + 60
        while not probe("127.0.0.1", port, "big2000"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("snmpsim did not start:\n"
                                   + (work / "snmpsim.out").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        for f in data.glob("*.snmprec"):  # open each recording's index once
            probe("127.0.0.1", port, f.stem, timeout=5.0)
        yield RecordedAgents("127.0.0.1", port, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
