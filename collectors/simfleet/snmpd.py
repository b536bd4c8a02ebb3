"""Start Debian's net-snmp ``snmpd`` on loopback as a real agent (tests and benchmarks).

Unlike snmpsim, snmpd is written in C and costs a fraction of a millisecond per poll, so
it is the agent to benchmark against. One process can listen on many ``address:port``
endpoints; each endpoint then looks like its own device (the benchmark gives every
device its own 127.x.y.z address).

Everything (config, persistent USM users, pid file, log) lives in ``workdir``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from collectors.simfleet import SimFleetError, probe

SNMPD = "/usr/sbin/snmpd"


@dataclass(frozen=True, slots=True)
class SnmpdUser:
    """An SNMPv3 user: ``auth`` is ``SHA``/``SHA-256``, ``priv`` ``AES``/``AES-256``."""

    name: str
    auth: str
    auth_key: str
    priv: str
    priv_key: str


@dataclass
class SnmpdAgent:
    """A running snmpd (context manager; :meth:`stop` is idempotent)."""

    workdir: Path
    endpoints: list[tuple[str, int]]
    community: str
    process: subprocess.Popen[bytes] | None = None
    users: list[SnmpdUser] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The first endpoint's address."""
        return self.endpoints[0][0]

    @property
    def port(self) -> int:
        """The first endpoint's port."""
        return self.endpoints[0][1]

    @property
    def pid(self) -> int:
        """Process id (for CPU accounting)."""
        assert self.process is not None
        return self.process.pid

    def tool_env(self) -> dict[str, str]:
        """Environment for net-snmp command-line tools: no files outside ``workdir``."""
        tools = self.workdir / "tools"
        tools.mkdir(exist_ok=True)
        return dict(os.environ, SNMP_PERSISTENT_DIR=str(tools), SNMPCONFPATH=str(tools),
                    MIBS="", MIBDIRS=str(tools))

    def kill(self) -> None:
        """SIGKILL the agent (an agent dying abruptly)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the agent."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> SnmpdAgent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_udp_port(address: str = "127.0.0.1") -> int:
    """A UDP port that is free on ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def start_snmpd(
    *,
    workdir: Path,
    endpoints: Sequence[tuple[str, int]] | None = None,
    community: str = "public",
    users: Sequence[SnmpdUser] = (),
    sys_name: str = "kentongan-snmpd",
    extends: Sequence[tuple[str, str]] = (("kiosk-app-version", "/bin/echo 2.3.1"),
                                          ("kiosk-app-active", "/bin/echo active")),
    overrides: Sequence[tuple[str, str, str]] = (),
    extra_conf: str = "",
    startup_timeout: float = 15.0,
) -> SnmpdAgent:
    """Start ``snmpd -f`` with a v2c community, v3 users, extends and overrides.

    Args:
        workdir: directory owned by this agent (created).
        endpoints: ``(address, port)`` to listen on (default: 127.0.0.1 on a free port);
            IPv6 addresses (``::1``) listen on udp6. The first endpoint must be IPv4.
        community: read-only v2c community.
        users: v3 users (authPriv) created in the agent's own persistent directory.
        sys_name: sysName.0.
        extends: NET-SNMP-EXTEND-MIB ``extend NAME COMMAND`` entries.
        overrides: ``override OID TYPE VALUE`` entries (e.g. UPS-MIB scalars).
        extra_conf: more snmpd.conf lines.
        startup_timeout: seconds to wait for the first endpoint to answer.
    """
    workdir = Path(workdir)
    persist = workdir / "persist"
    persist.mkdir(parents=True, exist_ok=True)
    eps = list(endpoints) if endpoints else [("127.0.0.1", free_udp_port())]
    lines = [
        f"rocommunity {community} 127.0.0.0/8",
        f"sysName {sys_name}",
        "sysDescr Linux kentongan-test (net-snmp snmpd)",
        "sysLocation Banyuwangi",
        "sysContact noc@banyuwangikab.go.id",
    ]
    for u in users:
        lines.append(f'createUser {u.name} {u.auth} "{u.auth_key}" {u.priv} "{u.priv_key}"')
        lines.append(f"rouser {u.name} authPriv")
    lines += [f"extend {name} {cmd}" for name, cmd in extends]
    lines += [f"override {o} {t} {v}" for o, t, v in overrides]
    conf = workdir / "snmpd.conf"
    conf.write_text("\n".join(lines) + "\n" + extra_conf)
    agent = SnmpdAgent(workdir=workdir, endpoints=eps, community=community, users=list(users))
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), MIBS="", MIBDIRS=str(persist))
    args = [
        SNMPD, "-f", "-C", "-c", str(conf), "-p", str(workdir / "snmpd.pid"),
        "-Lf", str(workdir / "snmpd.log"),
        ",".join(f"udp6:[{a}]:{p}" if ":" in a else f"udp:{a}:{p}" for a, p in eps),
    ]
    out = (workdir / "snmpd.out").open("wb")
    agent.process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    out.close()
    deadline = time.monotonic() + startup_timeout
    try:
        while not probe(eps[0][0], eps[0][1], community, timeout=0.2):
            if agent.process.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "snmpd.log").read_text(errors="replace")[-2000:] if (
                    workdir / "snmpd.log").exists() else ""
                raise SimFleetError(f"snmpd did not start on {eps[0][0]}:{eps[0][1]}: {log}")
    except BaseException:
        agent.stop()
        raise
    return agent
