"""A simulated SNMP fleet on loopback: snmpsim recordings per device role, with variation.

One snmpsim responder process serves many devices: each device gets its own recording
``<device-id>.snmprec`` and the SNMP community selects it (community = device id). Several
processes (``processes=``) split the fleet across cores, each on its own UDP port.

Recordings answer like the sample inventory's kit: routers (8 interfaces), ONTs, OLTs,
switches, access points, UPSes (UPS-MIB) and kiosks (HOST-RESOURCES-MIB and
NET-SNMP-EXTEND-MIB ``kiosk-app-version``/``kiosk-app-active``). Values move with time
through the ``kentongan`` variation module (``variation/kentongan.py``): sysUpTime grows,
octet counters grow (and Counter32s wrap), some uplinks go down and come back on a
schedule, some UPSes go on battery now and then. ``SimFleet.set_down(device_id, True)``
makes a device stop answering altogether (a fibre cut) within ~0.2 s;
``set_interface_down`` makes one interface report oper down and ``set_on_battery`` puts a
UPS on battery, on demand (see :mod:`collectors.simfleet.faults`).

Example::

    with start_fleet([SimDevice("rtr-kemiren", "router")], workdir=tmp) as fleet:
        address, port, community = fleet.endpoints["rtr-kemiren"]
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from collectors import ber
from collectors.base import CollectorError

logger = logging.getLogger(__name__)

VARIATION_DIR = Path(__file__).resolve().parent / "variation"
ROLE_INTERFACES = {
    "router": 8,
    "switch": 24,
    "olt": 16,
    "ont": 2,
    "access_point": 2,
    "ups": 0,
    "kiosk": 0,
    "server": 2,
}

SYS_DESCR = {
    "router": "RouterOS RB4011iGS+ 7.14.3 (Smart Kampung village router)",
    "switch": "CRS326-24G-2S+ SwOS 2.17",
    "olt": "ZTE ZXA10 C320 GPON OLT V2.1.0",
    "ont": "ZTE F670L GPON ONT V9.0.11",
    "access_point": "Ubiquiti UniFi U6-Lite 6.6.55",
    "ups": "APC Smart-UPS SRT 1000 (AP9641)",
    "kiosk": "Linux kiosk 6.1.0-18-amd64 #1 SMP Debian 6.1.76-1 x86_64",
    "server": "Linux server 6.1.0-18-amd64 Debian",
}


class SimFleetError(CollectorError):
    """The simulated fleet could not be started or driven."""


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device.

    Attributes:
        id: the device id (also its community string).
        role: inventory role (router, switch, olt, ont, access_point, ups, kiosk, server).
        interfaces: override the role's interface count.
        flap: make the first interface go down and up on a schedule (default: ~1 in 8
            routers/ONTs, chosen from the id).
        flap_period: seconds between two outages of that interface (default 30-60 min).
        flap_down: seconds each outage lasts.
        battery_period: UPS only: seconds between two mains failures (default 1.5-2.5 h).
        battery_down: UPS only: seconds on battery each time (default 5-10 min).
        app_version: kiosk app version reported through NET-SNMP-EXTEND-MIB.
    """

    id: str
    role: str
    interfaces: int | None = None
    flap: bool | None = None
    flap_period: float | None = None
    flap_down: float = 120.0
    battery_period: float | None = None
    battery_down: float | None = None
    app_version: str = "2.3.1"


class SimEndpoint(NamedTuple):
    """Where a simulated device answers."""

    address: str
    port: int
    community: str


def _seed(device_id: str) -> int:
    return int.from_bytes(hashlib.sha256(device_id.encode()).digest()[:8], "big")


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


def _text(value: str) -> str:
    """snmprec OCTET STRING value: plain when printable ASCII without '|', else hex."""
    if value.isascii() and value.isprintable() and "|" not in value:
        return value
    return value.encode().hex()


def build_recording(device: SimDevice, *, boot: float) -> str:
    """The ``.snmprec`` text of one device (records sorted by OID)."""
    seed = _seed(device.id)
    role = device.role
    recs: list[tuple[str, str, str]] = []

    def add(oid: str, tag: str, value: object) -> None:
        recs.append((oid, tag, str(value)))

    descr = SYS_DESCR.get(role, "Kentongan simulated device")
    add("1.3.6.1.2.1.1.1.0", "4", _text(descr))
    add("1.3.6.1.2.1.1.2.0", "6", "1.3.6.1.4.1.8072.3.2.10")
    add("1.3.6.1.2.1.1.3.0", "67:kentongan", f"kind=uptime,boot={boot - (seed % 86400):.0f}")
    add("1.3.6.1.2.1.1.4.0", "4", "noc@banyuwangikab.go.id")
    add("1.3.6.1.2.1.1.5.0", "4", _text(device.id))
    add("1.3.6.1.2.1.1.6.0", "4", "Banyuwangi, Jawa Timur")
    n_if = device.interfaces if device.interfaces is not None else ROLE_INTERFACES.get(role, 1)
    flap = device.flap if device.flap is not None else (
        role in ("router", "ont") and seed % 8 == 0
    )
    if n_if:
        add("1.3.6.1.2.1.2.1.0", "2", n_if)
    for i in range(1, n_if + 1):
        name = _if_name(role, i)
        speed_mbps = 1000 if i > 1 or role != "ont" else 2500
        rate = (seed >> (i % 24)) % 200_000 + 5_000 if i <= 4 else 0
        base = (seed * i) % (1 << 40)
        period: float = 0
        if flap and i == 1:
            period = device.flap_period or 1800 + seed % 1800
        t = "1.3.6.1.2.1.2.2.1"
        add(f"{t}.1.{i}", "2", i)
        add(f"{t}.2.{i}", "4", _text(name))
        add(f"{t}.3.{i}", "2", 6)
        add(f"{t}.4.{i}", "2", 1500)
        add(f"{t}.5.{i}", "66", min(speed_mbps * 1_000_000, 4294967295))
        add(f"{t}.6.{i}", "4", f"4c5e0c{seed % 0xFFFF:04x}{i:02x}")
        admin = 1 if i <= max(4, n_if - 2) else 2
        add(f"{t}.7.{i}", "2", admin)
        if admin == 1:
            add(f"{t}.8.{i}", "2:kentongan",
                f"kind=flap,period={period},down={device.flap_down},phase={seed % 997},if={i}")
        else:
            add(f"{t}.8.{i}", "2", 2)
        add(f"{t}.10.{i}", "65:kentongan", f"kind=counter,base={base},rate={rate},bits=32")
        add(f"{t}.13.{i}", "65", seed % 7 * i)
        add(f"{t}.14.{i}", "65", seed % 5 * i)
        add(f"{t}.16.{i}", "65:kentongan",
            f"kind=counter,base={base // 3},rate={rate // 4},bits=32")
        add(f"{t}.19.{i}", "65", seed % 3 * i)
        add(f"{t}.20.{i}", "65", seed % 2 * i)
        x = "1.3.6.1.2.1.31.1.1.1"
        add(f"{x}.1.{i}", "4", _text(name))
        add(f"{x}.6.{i}", "70:kentongan", f"kind=counter,base={base},rate={rate},bits=64")
        add(f"{x}.10.{i}", "70:kentongan",
            f"kind=counter,base={base // 3},rate={rate // 4},bits=64")
        add(f"{x}.15.{i}", "66", speed_mbps)
        add(f"{x}.18.{i}", "4", _text(_if_alias(role, i, device.id)))
    if role == "ups":
        b_period = device.battery_period or 5400 + seed % 3600
        b_down = device.battery_down or 300 + seed % 300
        sched = f"period={b_period},down={b_down},phase={seed % 4099}"
        u = "1.3.6.1.2.1.33.1"
        add(f"{u}.1.1.0", "4", "APC")
        add(f"{u}.1.2.0", "4", "Smart-UPS SRT 1000")
        add(f"{u}.2.1.0", "2", 2)
        add(f"{u}.2.3.0", "2:kentongan", f"kind=minutes,{sched}")
        add(f"{u}.2.4.0", "2:kentongan", f"kind=charge,{sched}")
        add(f"{u}.4.1.0", "2:kentongan", f"kind=source,{sched}")
    if role == "kiosk":
        add("1.3.6.1.2.1.25.1.1.0", "67:kentongan", f"kind=uptime,boot={boot - seed % 3600:.0f}")
        storage = [
            (1, "1.3.6.1.2.1.25.2.1.2", "Physical memory", 1024, 3_900_000, 1_200_000),
            (3, "1.3.6.1.2.1.25.2.1.3", "Virtual memory", 1024, 4_900_000, 1_300_000),
            (31, "1.3.6.1.2.1.25.2.1.4", "/", 4096, 7_700_000, 2_100_000 + seed % 3_000_000),
            (35, "1.3.6.1.2.1.25.2.1.4", "/run", 4096, 100_000, 300),
        ]
        h = "1.3.6.1.2.1.25.2.3.1"
        for idx, typ, sdescr, units, size, used in storage:
            add(f"{h}.1.{idx}", "2", idx)
            add(f"{h}.2.{idx}", "6", typ)
            add(f"{h}.3.{idx}", "4", _text(sdescr))
            add(f"{h}.4.{idx}", "2", units)
            add(f"{h}.5.{idx}", "2", size)
            add(f"{h}.6.{idx}", "2", used)
        ext = "1.3.6.1.4.1.8072.1.3.2"
        add(f"{ext}.1.0", "2", 2)
        for name, out in (("kiosk-app-version", device.app_version), ("kiosk-app-active",
                                                                         "active")):
            raw = name.encode()
            sidx = ".".join(map(str, (len(raw), *raw)))
            add(f"{ext}.3.1.1.{sidx}", "4", _text(out))
            add(f"{ext}.3.1.2.{sidx}", "4", _text(out))
            add(f"{ext}.3.1.3.{sidx}", "2", 1)
            add(f"{ext}.3.1.4.{sidx}", "2", 0)
    recs.sort(key=lambda r: _oid_key(r[0]))
    return "".join(f"{o}|{t}|{v}\n" for o, t, v in recs)


def _if_name(role: str, i: int) -> str:
    if role == "olt":
        return f"gpon0/{i}" if i <= 14 else f"xge0/{i - 14}"
    if role == "ont":
        return "pon0" if i == 1 else f"lan{i - 1}"
    if role in ("access_point", "server"):
        return f"eth{i - 1}"
    return f"ether{i}"


def interface_index(role: str, name: str, *, interfaces: int | None = None) -> int | None:
    """The ifIndex a simulated device of ``role`` gives the interface called ``name``."""
    count = interfaces if interfaces is not None else ROLE_INTERFACES.get(role, 1)
    for i in range(1, count + 1):
        if _if_name(role, i) == name:
            return i
    return None


def _if_alias(role: str, i: int, device_id: str) -> str:
    if i == 1:
        return f"uplink {device_id}"
    return f"{role} port {i}"


@dataclass
class SimFleet:
    """A running simulated fleet (use as a context manager, or call :meth:`stop`)."""

    workdir: Path
    endpoints: dict[str, SimEndpoint]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    state_file: Path = field(default_factory=Path)
    roles: dict[str, str] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)
    _if_down: set[tuple[str, int]] = field(default_factory=set)
    _battery: set[str] = field(default_factory=set)

    def __enter__(self) -> SimFleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        """Responder process ids (e.g. to read their CPU time)."""
        return [p.pid for p in self.processes]

    def set_down(self, device_id: str, down: bool = True) -> None:
        """Make a device stop answering (``down=True``) or answer again (within ~0.2 s)."""
        if device_id not in self.endpoints:
            raise SimFleetError(f"unknown simulated device {device_id!r}")
        if down:
            self._down.add(device_id)
        else:
            self._down.discard(device_id)
        self._write_state()

    def set_interface_down(self, device_id: str, interface: str, down: bool = True) -> None:
        """Make one interface of a device report oper down (``down=True``) or up again."""
        role = self.roles.get(device_id)
        if device_id not in self.endpoints or role is None:
            raise SimFleetError(f"unknown simulated device {device_id!r}")
        index = interface_index(role, interface)
        if index is None:
            raise SimFleetError(f"simulated {role} {device_id!r} has no interface {interface!r}")
        if down:
            self._if_down.add((device_id, index))
        else:
            self._if_down.discard((device_id, index))
        self._write_state()

    def has_interface(self, device_id: str, interface: str) -> bool:
        """Whether the simulated device has an interface called ``interface``."""
        role = self.roles.get(device_id)
        return role is not None and interface_index(role, interface) is not None

    def set_on_battery(self, device_id: str, on_battery: bool = True) -> None:
        """Make a simulated UPS run on battery (mains lost) or on mains again."""
        if self.roles.get(device_id) != "ups":
            raise SimFleetError(f"{device_id!r} is not a simulated UPS")
        if on_battery:
            self._battery.add(device_id)
        else:
            self._battery.discard(device_id)
        self._write_state()

    def _write_state(self) -> None:
        lines = [f"{d}\n" for d in sorted(self._down)]
        lines += [f"{d}#{i}\n" for d, i in sorted(self._if_down)]
        lines += [f"{d}@battery\n" for d in sorted(self._battery)]
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.state_file)

    def is_down(self, device_id: str) -> bool:
        """Whether ``device_id`` was set down."""
        return device_id in self._down

    def stop(self) -> None:
        """Stop every responder process (idempotent)."""
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in self.processes:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes = []


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _responder_command() -> list[str]:
    exe = Path(sys.executable).with_name("snmpsim-command-responder")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("snmpsim-command-responder")
    if found:
        return [found]
    raise SimFleetError("snmpsim-command-responder not found: install the 'sim' extra")


def probe(address: str, port: int, community: str, *, timeout: float = 0.5) -> bool:
    """One blocking SNMPv2c GET of sysUpTime.0; True when the agent answered."""
    rid = int.from_bytes(os.urandom(3), "big") + 1
    msg = ber.encode_v2c_message(
        community.encode(),
        ber.encode_pdu(ber.GET_REQUEST, rid, 0, 0,
                       ber.encode_varbinds([ber.oid("1.3.6.1.2.1.1.3.0")])),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, (address, port))
        try:
            while True:
                data, _ = s.recvfrom(65535)
                try:
                    if ber.decode_v2c_message(data).pdu.request_id == rid:
                        return True
                except ber.BerError:
                    continue
        except OSError:
            return False


def warm_up(
    endpoints: Sequence[SimEndpoint], *, window: int = 8, timeout: float = 10.0
) -> list[SimEndpoint]:
    """GET sysUpTime.0 from every endpoint, ``window`` requests in flight at a time.

    snmpsim opens a recording's index on first use (tens of milliseconds each); doing it
    here keeps the first real poll round from timing out. Returns the endpoints that did
    not answer.
    """
    todo = list(endpoints)
    pending: dict[int, tuple[SimEndpoint, float]] = {}
    missing: list[SimEndpoint] = []
    sysuptime = ber.encode_varbinds([ber.oid("1.3.6.1.2.1.1.3.0")])
    rid = int.from_bytes(os.urandom(3), "big")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        while todo or pending:
            while todo and len(pending) < window:
                ep = todo.pop()
                rid += 1
                s.sendto(ber.encode_v2c_message(
                    ep.community.encode(),
                    ber.encode_pdu(ber.GET_REQUEST, rid, 0, 0, sysuptime)), (ep.address, ep.port))
                pending[rid] = (ep, time.monotonic())
            try:
                data, _ = s.recvfrom(65535)
                pending.pop(ber.decode_v2c_message(data).pdu.request_id, None)
            except (OSError, ber.BerError):
                pass
            now = time.monotonic()
            for r, (ep, t0) in list(pending.items()):
                if now - t0 > timeout:
                    del pending[r]
                    missing.append(ep)
    return missing


def _chunks(items: Sequence[SimDevice], n: int) -> Iterator[Sequence[SimDevice]]:
    size = (len(items) + n - 1) // n
    for i in range(0, len(items), size or 1):
        yield items[i : i + size]


def start_fleet(
    devices: Sequence[SimDevice],
    *,
    workdir: Path,
    address: str = "127.0.0.1",
    port: int | None = None,
    processes: int = 1,
    startup_timeout: float = 120.0,
    warm: bool = True,
) -> SimFleet:
    """Write recordings under ``workdir`` and start snmpsim responder(s) on loopback.

    Args:
        devices: the devices to simulate (ids must be unique).
        workdir: a directory this fleet owns (recordings, index cache, logs, state file).
        address: IPv4 address to listen on.
        port: UDP port of the first process (default: a free port); process *k* listens
            on ``port + k`` when given, else on its own free port.
        processes: responder processes to split the devices across.
        startup_timeout: seconds to wait until every process answers.
        warm: query every device once before returning (see :func:`warm_up`).

    Returns:
        The running fleet; ``fleet.endpoints[device_id]`` is ``(address, port, community)``.
    """
    ids = [d.id for d in devices]
    if len(set(ids)) != len(ids):
        raise SimFleetError("duplicate simulated device ids")
    if not devices:
        raise SimFleetError("no devices to simulate")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "down.txt"
    state.write_text("")
    fleet = SimFleet(workdir=workdir, endpoints={}, state_file=state,
                     roles={d.id: d.role for d in devices})
    boot = time.time()
    cmd = _responder_command()
    env = dict(os.environ, KENTONGAN_SIMFLEET_STATE=str(state))
    try:
        for k, chunk in enumerate(_chunks(list(devices), max(1, processes))):
            data_dir = workdir / f"data{k}"
            data_dir.mkdir(exist_ok=True)
            for d in chunk:
                (data_dir / f"{d.id}.snmprec").write_text(build_recording(d, boot=boot))
            p_port = port + k if port is not None else _free_udp_port(address)
            args = [
                *cmd,
                f"--data-dir={data_dir}",
                f"--cache-dir={workdir / f'cache{k}'}",
                f"--variation-modules-dir={VARIATION_DIR}",
                f"--agent-udpv4-endpoint={address}:{p_port}",
                f"--logging-method=file:{workdir / f'snmpsim{k}.log'}",
                "--log-level=error",
            ]
            if os.geteuid() == 0:
                args += ["--process-user=root", "--process-group=root"]
            log = (workdir / f"snmpsim{k}.out").open("wb")
            fleet.processes.append(
                subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
            )
            log.close()
            for d in chunk:
                fleet.endpoints[d.id] = SimEndpoint(address, p_port, d.id)
        first: dict[int, SimEndpoint] = {}
        for ep in fleet.endpoints.values():
            first.setdefault(ep.port, ep)
        deadline = time.monotonic() + startup_timeout
        for ep in first.values():
            while not probe(ep.address, ep.port, ep.community):
                dead = [p for p in fleet.processes if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    out = "\n".join(
                        (workdir / f"snmpsim{i}.out").read_text(errors="replace")[-2000:]
                        for i in range(len(fleet.processes))
                    )
                    raise SimFleetError(f"snmpsim did not start on {ep.address}:{ep.port}\n"
                                        f"{out}")
                time.sleep(0.2)
        if warm:
            missing = warm_up(list(fleet.endpoints.values()), window=8 * len(first))
            if missing:
                raise SimFleetError(f"{len(missing)} simulated devices did not answer, "
                                    f"e.g. {missing[0].community}")
        logger.info("simulated fleet: %d devices on %d responder(s)", len(devices),
                    len(fleet.processes))
        return fleet
    except BaseException:
        fleet.stop()
        raise
