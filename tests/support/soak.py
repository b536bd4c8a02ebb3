"""The soak harness shared by ``tests/test_soak.py`` and ``benchmarks/soak.py``.

A slice of the demo fleet (or all of it) in a real SQLite database, simulated by snmpsim on
loopback, watched by a real ``kentongan serve`` subprocess (poller + API) whose settings and
policy windows are scaled by ``scale`` (60 s poll interval / scale). Faults come from the
demo's :class:`~collectors.simfleet.faults.FaultInjector`; a sampler reads the database
about once a second and records, per fault, when it was detected and when it cleared, and
any transition of a device or link no fault explains.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.orm import Session

from collectors.simfleet import SimDevice, SimFleet, start_fleet
from collectors.simfleet.faults import Fault, FaultInjector, FaultKind
from inventory.db import get_engine
from inventory.models import Device
from inventory.topology import Node, Topology
from kentongan.demo import point_inventory_at_fleet, prepare, seed_history

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "api" / "readiness" / "default_policy.yml"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scaled_policy(target: Path, scale: float) -> Path:
    """The default policy with every minute/day window divided by ``scale``."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text())

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if key == "max_age_minutes":
                    node[key] = float(value) / scale
                elif key == "window_days":
                    node[key] = max(1, round(float(value) / scale))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class FaultTrack:
    """What the sampler saw of one fault."""

    fault: Fault
    watched: tuple[tuple[str, str], ...]  # (kind, subject) pairs expected to leave "up"
    began: float
    ended: float | None = None
    detected: float | None = None
    cleared: float | None = None

    @property
    def detection_s(self) -> float | None:
        """Seconds from the fault to its detection."""
        return None if self.detected is None else self.detected - self.began

    @property
    def clearing_s(self) -> float | None:
        """Seconds from the repair to everything reading up again."""
        if self.cleared is None or self.ended is None:
            return None
        return self.cleared - self.ended


@dataclass
class SoakRun:
    """A running soak: fleet, server, injector and sampler (use :func:`soak_run`)."""

    workdir: Path
    url: str
    db_path: Path
    fleet: SimFleet
    topology: Topology
    faults: FaultInjector
    scale: float
    port: int
    env: dict[str, str]
    devices: list[str]
    proc: subprocess.Popen[bytes] | None = None
    tracks: list[FaultTrack] = field(default_factory=list)
    unexplained: list[tuple[float, str, str, str]] = field(default_factory=list)
    restarts: list[dict[str, float]] = field(default_factory=list)
    samples: int = 0
    max_poll_age_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _last: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def interval(self) -> float:
        """The scaled poll interval (seconds)."""
        return 60.0 / self.scale

    @property
    def base(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    # ----------------------------------------------------------------- server

    def start_server(self, *, timeout: float = 120.0) -> float:
        """Start ``kentongan serve``; return the monotonic time it answered /healthz."""
        log = (self.workdir / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kentongan.cli", "serve", "--port", str(self.port)],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kentongan serve exited: "
                                     + (self.workdir / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("kentongan serve did not answer /healthz in time")

    def stop_server(self) -> None:
        """SIGTERM the server and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart_server(self) -> dict[str, float]:
        """Stop and start the server; measure when polling resumed and what was lost."""
        before = self.transitions()
        stopped = time.monotonic()
        stopped_wall = datetime.now(UTC)
        self.stop_server()
        ready = self.start_server()
        resumed = None
        deadline = ready + 10 * self.interval + 60
        while time.monotonic() < deadline:
            with self._db() as db:
                row = db.execute("SELECT max(last_poll_at) FROM device_states").fetchone()
            if row and row[0] and _parse(row[0]) > stopped_wall:
                resumed = time.monotonic()
                break
            time.sleep(0.2)
        after = self.transitions()
        lost = len(before - after)
        info = {"stopped_at": stopped, "ready_at": ready,
                "resumed_after_s": (resumed - ready) if resumed else float("inf"),
                "lost_transitions": float(lost)}
        self.restarts.append(info)
        return info

    # ----------------------------------------------------------------- database

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            yield db
        finally:
            db.close()

    def transitions(self) -> set[tuple[Any, ...]]:
        """Every state transition row (kind, subject, from, to, at)."""
        with self._db() as db:
            return set(db.execute(
                "SELECT kind, subject, from_status, to_status, at FROM state_transitions"))

    def states(self) -> dict[tuple[str, str], str]:
        """Current status of every enabled device and every link."""
        enabled = set(self.devices)
        with self._db() as db:
            out = {("device", d): s for d, s in db.execute(
                "SELECT device_id, status FROM device_states") if d in enabled}
            out |= {("link", link): s for link, s in db.execute(
                "SELECT link_id, status FROM link_states")
                if set(self.topology.link_ends.get(link, ("",))) <= enabled}
            for d, on_battery in db.execute(
                    "SELECT device_id, ups_on_battery FROM device_states "
                    "WHERE ups_on_battery IS NOT NULL"):
                if d in enabled:
                    out[("battery", d)] = "battery" if on_battery else "mains"
        return out

    def poll_ages(self) -> list[float]:
        """Seconds since each enabled device's last poll."""
        now = datetime.now(UTC)
        enabled = set(self.devices)
        with self._db() as db:
            rows = db.execute("SELECT device_id, last_poll_at FROM device_states").fetchall()
        return [(now - _parse(r[1])).total_seconds() for r in rows if r[1] and r[0] in enabled]

    def db_bytes(self) -> int:
        """Size of the database with its WAL."""
        return sum(p.stat().st_size for p in self.db_path.parent.glob(self.db_path.name + "*"))

    # ----------------------------------------------------------------- faults

    def expected(self, fault: Fault) -> tuple[tuple[str, str], ...]:
        """The (kind, subject) pairs a fault should take out of their normal state."""
        if fault.kind == FaultKind.CUT:
            return (("link", fault.subject), *(("device", d) for d in fault.devices))
        if fault.kind == FaultKind.POWER:
            return tuple(("battery", d) for d in fault.devices)
        return tuple(("device", d) for d in fault.devices)

    def inject(self, fault: Fault) -> FaultTrack:
        """Track a fault just made through :attr:`faults`."""
        track = FaultTrack(fault, self.expected(fault), began=time.monotonic())
        with self._lock:
            self.tracks.append(track)
        return track

    def cleared(self, track: FaultTrack) -> None:
        """Note that ``track``'s fault was just repaired."""
        track.ended = time.monotonic()

    def _explained(self, key: tuple[str, str]) -> bool:
        for track in self.tracks:
            if key in track.watched and (track.cleared is None or track.ended is None):
                return True
            # a transition seen shortly after clearing belongs to the clearing
            if key in track.watched and track.cleared and time.monotonic() - track.cleared < 5:
                return True
        return False

    @staticmethod
    def _normal(key: tuple[str, str], status: str) -> bool:
        return status == ("mains" if key[0] == "battery" else "up")

    def _sample(self) -> None:
        try:
            states = self.states()
            ages = self.poll_ages()
        except sqlite3.Error:
            return
        now = time.monotonic()
        self.samples += 1
        if ages and self.proc is not None and self.proc.poll() is None:
            self.max_poll_age_s = max(self.max_poll_age_s, max(ages))
        with self._lock:
            for track in self.tracks:
                watched = [states.get(k) for k in track.watched]
                if track.detected is None and all(
                        s is not None and not self._normal(k, s)
                        for k, s in zip(track.watched, watched, strict=True)):
                    track.detected = now
                if (track.ended is not None and track.detected is not None
                        and track.cleared is None and all(
                            s is not None and self._normal(k, s)
                            for k, s in zip(track.watched, watched, strict=True))):
                    track.cleared = now
            for key, status in states.items():
                previous = self._last.get(key)
                if previous is not None and previous != status and not self._explained(key):
                    self.unexplained.append((now, key[0], key[1], f"{previous}->{status}"))
            self._last = states

    def start_sampler(self, every: float = 1.0) -> None:
        """Sample the database every ``every`` seconds in a thread."""
        def run() -> None:
            while not self._stop.wait(every):
                self._sample()

        self._sample()
        self._thread = threading.Thread(target=run, name="soak-sampler", daemon=True)
        self._thread.start()

    def stop_sampler(self) -> None:
        """Stop the sampler thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def readiness(self) -> dict[str, str]:
        """Verdict of every village from the API."""
        out: dict[str, str] = {}
        offset = 0
        while True:
            page = httpx.get(f"{self.base}/api/v1/readiness/villages",
                             params={"limit": 1000, "offset": offset}, timeout=30).json()
            out |= {v["code"]: v["verdict"] for v in page["items"]}
            offset += len(page["items"])
            if offset >= page["total"] or not page["items"]:
                return out

    def villages_failing(self, check: str) -> set[str]:
        """Codes of villages whose mandatory ``check`` (e.g. ``network.uplink_up``) did
        not pass."""
        response = httpx.get(f"{self.base}/api/v1/readiness/villages",
                             params={"limit": 1000, "failing_check": check}, timeout=30)
        assert response.status_code == 200, response.text
        return {v["code"] for v in response.json()["items"]}

    def village_of_site(self, site: str) -> str | None:
        """The village code of a site."""
        return self.topology.site_village.get(site)

    def affected_villages(self, fault: Fault) -> set[str]:
        """Villages a fault may change (behind a cut, or the site of a faulted device)."""
        sites: set[str] = set()
        if fault.kind == FaultKind.CUT:
            sites |= self.topology.sites_behind(fault.subject)
        if fault.kind == FaultKind.POWER:
            sites.add(fault.subject)
        for device in fault.devices:
            site = self.topology.device_site.get(device)
            if site:
                sites.add(site)
        return {v for s in sites if (v := self.village_of_site(s))}


def _parse(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def slice_devices(url: str, districts: tuple[str, ...] | None) -> list[Device]:
    """Enabled devices of ``districts`` plus the NOC (all devices when None)."""
    from sqlalchemy import select

    from inventory.models import Site

    with Session(get_engine(url)) as session:
        stmt = select(Device).join(Site, Device.site_id == Site.id).order_by(Device.id)
        rows = list(session.scalars(stmt))
        if districts is None:
            return rows
        sites = {s.id: s for s in session.scalars(select(Site))}
    return [d for d in rows
            if sites[d.site_id].district_code in districts or sites[d.site_id].kind == "noc"]


@contextlib.contextmanager
def soak_run(workdir: Path, *, districts: tuple[str, ...] | None, scale: float,
             processes: int = 2, extra_env: dict[str, str] | None = None) -> Iterator[SoakRun]:
    """Prepare the database and fleet, start the server, yield the run; stop everything."""
    url, _all = prepare(workdir)
    devices = slice_devices(url, districts)
    sims = [SimDevice(d.id, d.role, flap=False, battery_period=1e9,
                      app_version="2.4.1") for d in devices]
    fleet = start_fleet(sims, workdir=workdir / "fleet", processes=processes)
    run: SoakRun | None = None
    try:
        point_inventory_at_fleet(url, {k: (v[0], v[1], v[2]) for k, v in fleet.endpoints.items()},
                                 workdir)
        seed_history(url)
        with Session(get_engine(url)) as session:
            faults = FaultInjector.from_inventory(session, fleet)
        interval = 60.0 / scale
        policy = scaled_policy(workdir / "policy.yml", scale)
        env = dict(os.environ)
        env.update({
            "KENTONGAN_DATABASE_URL": url,
            "KENTONGAN_POLL_INTERVAL_SECONDS": str(interval),
            "KENTONGAN_POLL_TIMEOUT_SECONDS": "3",
            "KENTONGAN_POLL_RETRIES": "1",
            "KENTONGAN_POLL_RELOAD_SECONDS": str(300.0 / scale),
            "KENTONGAN_POLICY_PATH": str(policy),
            "KENTONGAN_READINESS_CACHE_SECONDS": str(30.0 / scale),
            "KENTONGAN_PUBLIC_READINESS": "true",
            "KENTONGAN_RUN_POLLER": "true",
            "KENTONGAN_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        })
        run = SoakRun(workdir=workdir, url=url, db_path=Path(url.removeprefix("sqlite:///")),
                      fleet=fleet, topology=faults.topology, faults=faults, scale=scale,
                      port=free_port(), env=env, devices=[d.id for d in devices])
        run.start_server()
        yield run
    finally:
        if run is not None:
            run.stop_sampler()
            run.faults.close()
            run.stop_server()
        fleet.stop()


def steady_villages(run: SoakRun, all_villages: set[str]) -> set[str]:
    """Villages no fault of the run touched."""
    touched: set[str] = set()
    for track in run.tracks:
        touched |= run.affected_villages(track.fault)
    return all_villages - touched


def behind(topology: Topology, link: str) -> set[str]:
    """Device ids behind ``link``."""
    return {n.id for n in topology.behind(Node("link", link)) if n.kind == "device"}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
