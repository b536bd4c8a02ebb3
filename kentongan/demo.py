"""``kentongan demo``: the embedded default, running.

SQLite, the Banyuwangi sample inventory, a simulated fleet on loopback (snmpsim agents
that answer like the sample's routers, ONTs, UPSes and kiosks, with links that flap and
UPSes that go on battery), the poller, the API, ``/metrics`` and the dashboard on
http://127.0.0.1:8000. Every few minutes a fibre cut takes one kecamatan's backbone link
down for a while, so that ``unreachable`` devices, root-cause incidents and availability
have something to show.
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.settings import Settings
from inventory.db import dispose_engines, get_engine
from inventory.importer import import_paths
from inventory.migrate import upgrade
from inventory.models import Device, SnmpProfile
from inventory.topology import Node, Topology

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "banyuwangi"
DEMO_DIR = Path(".kentongan-demo")
APP_VERSIONS = ("2.4.1", "2.4.1", "2.4.0", "2.4.1", "2.3.1")
HISTORY_DAYS = 30


def prepare(workdir: Path, *, device_limit: int | None = None) -> tuple[str, list[Device]]:
    """A fresh demo database with the Banyuwangi sample; returns its URL and the devices
    to simulate."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    url = f"sqlite:///{(workdir / 'demo.db').resolve()}"
    engine = get_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        import_paths(session, [EXAMPLES / "regions.csv", EXAMPLES / "inventory.yaml"])
    with Session(engine) as session:
        devices = list(session.scalars(select(Device).order_by(Device.id)))
    if device_limit:
        devices = devices[:device_limit]
    return url, devices


def point_inventory_at_fleet(
    url: str, endpoints: dict[str, tuple[str, int, str]], workdir: Path
) -> None:
    """Aim every simulated device at its agent: loopback address, port, and an SNMP v2c
    profile whose community (the device id, as snmpsim expects) lives in a file."""
    secrets_dir = workdir / "communities"
    secrets_dir.mkdir(exist_ok=True)
    engine = get_engine(url)
    with Session(engine) as session:
        for device_id, (address, port, community) in endpoints.items():
            path = secrets_dir / device_id
            path.write_text(community)
            path.chmod(0o600)
            profile = f"sim-{device_id}"[:64]
            session.add(SnmpProfile(name=profile, version="2c", community_file=str(path),
                                    allowed_networks=["127.0.0.0/8"]))
            session.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(address=address, snmp_port=port, snmp_profile=profile, ssh_profile=None)
            )
        session.execute(
            update(Device).where(Device.id.not_in(list(endpoints))).values(enabled=False)
        )
        session.commit()


def seed_history(url: str, *, days: int = HISTORY_DAYS, seed: int = 3510) -> int:
    """Give the demo a month of past: every device and link up since ``days`` ago, and for
    about one village in five a few outages of its uplink (the devices behind it
    unreachable meanwhile), so availability, SLA and readiness have something to show.
    Returns the number of transitions written."""
    from collectors.models import StateTransition

    rng = random.Random(seed)
    engine = get_engine(url)
    now = datetime.now(UTC)
    start = now - timedelta(days=days, minutes=5)
    rows: list[dict[str, object]] = []
    with Session(engine) as session:
        topology = Topology.load(session)
        enabled = set(session.scalars(select(Device.id).where(Device.enabled.is_(True))))
    for device in sorted(enabled):
        rows.append(
            {
                "kind": "device",
                "subject": device,
                "from_status": "unknown",
                "to_status": "up",
                "at": start,
                "reason": "demo history",
            }
        )
    for link in sorted(topology.link_ends):
        rows.append(
            {
                "kind": "link",
                "subject": link,
                "from_status": "unknown",
                "to_status": "up",
                "at": start,
                "reason": "demo history",
            }
        )
    villages = sorted(
        s for s, k in topology.site_kind.items() if k in ("village_office", "kelurahan_office")
    )
    for site in villages:
        if rng.random() > 0.2:
            continue
        uplink = topology.site_uplink.get(site)
        gateway = topology.gateway(site)
        if uplink is None or gateway is None:
            continue
        behind = [
            n.id
            for n in topology.behind(Node("link", uplink))
            if n.kind == "device" and n.id in enabled and n.id != gateway
        ]
        for _ in range(rng.randint(1, 3)):
            begin = start + timedelta(minutes=rng.uniform(60, (days - 1) * 1440))
            end = begin + timedelta(minutes=rng.choice((12, 45, 90, 240, 600)))
            reason = rng.choice(("fibre cut", "ONT power loss", "PLN outage"))
            rows.append(
                {
                    "kind": "link",
                    "subject": uplink,
                    "from_status": "up",
                    "to_status": "down",
                    "at": begin,
                    "reason": reason,
                }
            )
            rows.append(
                {
                    "kind": "link",
                    "subject": uplink,
                    "from_status": "down",
                    "to_status": "up",
                    "at": end,
                    "reason": "restored",
                }
            )
            for device, status in [(gateway, "down"), *((d, "unreachable") for d in behind)]:
                rows.append(
                    {
                        "kind": "device",
                        "subject": device,
                        "from_status": "up",
                        "to_status": status,
                        "at": begin,
                        "reason": reason,
                    }
                )
                rows.append(
                    {
                        "kind": "device",
                        "subject": device,
                        "from_status": status,
                        "to_status": "up",
                        "at": end,
                        "reason": "restored",
                    }
                )
    with Session(engine) as session:
        session.execute(insert(StateTransition), rows)
        session.commit()
    return len(rows)


class FibreCutter:
    """Cuts a random kecamatan backbone link now and then, and mends it later."""

    def __init__(
        self, fleet: object, topology: Topology, *, every: float = 300.0, lasts: float = 150.0
    ) -> None:
        self.fleet = fleet
        self.topology = topology
        self.every = every
        self.lasts = lasts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fibre-cutter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        backbone = sorted(link for link in self.topology.link_ends if link.startswith("fo-noc-"))
        rng = random.Random(35_10)
        while backbone and not self._stop.wait(self.every):
            link = rng.choice(backbone)
            behind = [n.id for n in self.topology.behind(Node("link", link)) if n.kind == "device"]
            logger.warning("demo: fibre cut on %s (%d devices behind it)", link, len(behind))
            for device in behind:
                self.fleet.set_down(device, True)  # type: ignore[attr-defined]
            if self._stop.wait(self.lasts):
                break
            for device in behind:
                self.fleet.set_down(device, False)  # type: ignore[attr-defined]
            logger.warning("demo: %s repaired", link)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_demo(
    *,
    port: int = 8000,
    device_limit: int | None = None,
    workdir: Path = DEMO_DIR,
    poll_interval: float = 60.0,
    cut_every: float = 300.0,
) -> None:
    """Set everything up and serve until Ctrl-C."""
    workdir = workdir.resolve()
    import uvicorn
    from rich.console import Console

    from api.app import create_app
    from collectors.simfleet import SimDevice, start_fleet

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("collectors.store").setLevel(logging.WARNING)  # 1,000 first "up"s
    with console.status("preparing the demo database (Banyuwangi sample inventory)…"):
        url, devices = prepare(workdir, device_limit=device_limit)
    sims = []
    for i, d in enumerate(devices):
        version = APP_VERSIONS[i % len(APP_VERSIONS)] if d.role == "kiosk" else "2.3.1"
        sims.append(SimDevice(d.id, d.role, app_version=version))
    with console.status(f"starting the simulated fleet ({len(sims)} SNMP agents on loopback)…"):
        fleet = start_fleet(sims, workdir=workdir / "fleet", processes=2)
    cutter = None
    try:
        point_inventory_at_fleet(
            url, {k: (v[0], v[1], v[2]) for k, v in fleet.endpoints.items()}, workdir
        )
        seed_history(url)
        engine = get_engine(url)
        with Session(engine) as session:
            topology = Topology.load(session)
        if cut_every > 0:
            cutter = FibreCutter(fleet, topology, every=cut_every, lasts=cut_every / 2)
            cutter.start()
        settings = Settings(
            database_url=url,
            port=port,
            run_poller=True,
            poll_interval_seconds=poll_interval,
            poll_timeout_seconds=3.0,
            public_readiness=True,
        )
        console.print(
            f"[bold green]Kentongan demo[/] — {len(sims)} simulated devices, "
            f"database {url}\n"
            f"  dashboard   http://127.0.0.1:{port}/\n"
            f"  API         http://127.0.0.1:{port}/docs\n"
            f"  metrics     http://127.0.0.1:{port}/metrics\n"
            f"  poll once   KENTONGAN_DATABASE_URL={url} .venv/bin/kentongan poll --once\n"
            "  Ctrl-C stops everything."
        )
        # uvicorn re-raises SIGTERM after its graceful shutdown; make that an exception so
        # the simulated agents (own sessions) are stopped below rather than orphaned.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                    access_log=False)  # the app's own access log redacts secrets
    finally:
        if cutter is not None:
            cutter.stop()
        fleet.stop()
        dispose_engines()
