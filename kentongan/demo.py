"""``kentongan demo``: the embedded default, running.

SQLite, the Banyuwangi sample inventory, a simulated fleet on loopback (snmpsim agents
that answer like the sample's routers, ONTs, UPSes and kiosks, with links that flap and
UPSes that go on battery), the poller, the API, ``/metrics`` and the dashboard on
http://127.0.0.1:8000. Every few minutes a fibre cut takes one kecamatan's backbone link
down for a while, so that ``unreachable`` devices, root-cause incidents and availability
have something to show.

Also, when they are installed: the real Prometheus and Alertmanager on loopback with the
configs ``kentongan alerts render-config`` writes (Alertmanager's webhook posts to the
demo's ``/api/v1/alerts`` with a webhook token), so incidents and their root cause appear;
the kiosks of Glagah (35.10.15) as real OpenSSH sshd stand-ins that the kiosk-update
playbook can roll releases to; and an admin-only ``/api/v1/demo/faults`` API (with an admin
token in ``.kentongan-demo/admin_token``) behind ``kentongan demo fault …``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from collectors.simfleet import SimFleetError
from collectors.simfleet.faults import FaultError, FaultInjector
from collectors.simfleet.kiosks import KioskStandIns
from core.settings import Settings
from inventory.db import dispose_engines, get_engine
from inventory.importer import import_paths
from inventory.models import Device, SnmpProfile
from inventory.topology import Node, Topology
from kentongan.app import upgrade

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "banyuwangi"
DEMO_DIR = Path(".kentongan-demo")
APP_VERSIONS = ("2.4.1", "2.4.1", "2.4.0", "2.4.1", "2.3.1")
HISTORY_DAYS = 30
GLAGAH = "35.10.15"
FIRST_RELEASE = "2.4.1"
NEXT_RELEASE = "2.5.0"


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
    """Cuts a random kecamatan backbone link now and then (through the fault injector, so
    the cut shows in ``kentongan demo fault list``), and mends it later."""

    def __init__(
        self, faults: FaultInjector, *, every: float = 300.0, lasts: float = 150.0
    ) -> None:
        self.faults = faults
        self.every = every
        self.lasts = lasts
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fibre-cutter", daemon=True)

    def start(self) -> None:
        """Start cutting in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop cutting (a cut in progress is repaired by its timer)."""
        self._stop.set()

    def _run(self) -> None:
        backbone = sorted(
            link for link in self.faults.topology.link_ends if link.startswith("fo-noc-")
        )
        rng = random.Random(35_10)
        while backbone and not self._stop.wait(self.every):
            link = rng.choice(backbone)
            try:
                self.faults.cut(link, by="demo (random cut)", duration=self.lasts)
            except FaultError as exc:
                logger.info("demo: no random cut this time: %s", exc)


@dataclass
class DemoPeers:
    """Prometheus and Alertmanager started for the demo (either may be missing)."""

    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop both (idempotent)."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes = []


def _free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for candidate in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], *, timeout: float = 60.0) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def start_peers(workdir: Path, *, url: str, port: int, token_file: Path,
                prometheus_port: int | None = None,
                alertmanager_port: int | None = None) -> DemoPeers:
    """Render the configs with ``kentongan alerts render-config`` and start Prometheus and
    Alertmanager on loopback with them; what cannot start is reported in ``problems``."""
    peers = DemoPeers()
    prom_bin = shutil.which("prometheus") or "/usr/bin/prometheus"
    am_bin = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
    missing = [b for b in (prom_bin, am_bin) if not Path(b).exists()]
    if missing:
        peers.problems.append(
            f"{', '.join(missing)} not installed (Debian: prometheus, prometheus-alertmanager; "
            "`make demo` or `bash scripts/install-system-deps.sh --demo` installs them)"
        )
        return peers
    conf = workdir / "prometheus"
    am_port = alertmanager_port or _free_port(9093)
    prom_port = prometheus_port or _free_port(9090)
    render = subprocess.run(
        [sys.executable, "-m", "kentongan.cli", "alerts", "render-config", "--out", str(conf),
         "--kentongan", f"127.0.0.1:{port}", "--alertmanager", f"127.0.0.1:{am_port}",
         "--token-file", str(token_file)],
        capture_output=True, text=True, env=dict(os.environ, KENTONGAN_DATABASE_URL=url),
        timeout=120, check=False,
    )
    if render.returncode != 0:
        peers.problems.append(f"`kentongan alerts render-config` failed: {render.stderr[-500:]}")
        return peers
    for name, args, listen in (
        ("alertmanager", [am_bin, f"--config.file={conf / 'alertmanager.yml'}",
                          f"--storage.path={conf / 'am-data'}",
                          f"--web.listen-address=127.0.0.1:{am_port}",
                          "--cluster.listen-address=", "--log.level=warn"], am_port),
        ("prometheus", [prom_bin, f"--config.file={conf / 'prometheus-embedded.yml'}",
                        f"--storage.tsdb.path={conf / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                        "--log.level=warn"], prom_port),
    ):
        log = (workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        peers.processes.append(proc)
        base = f"http://127.0.0.1:{listen}"
        if not _wait_ready(base, proc):
            tail = (workdir / f"{name}.log").read_text(errors="replace")[-500:]
            peers.problems.append(f"{name} did not start on {base}: {tail}")
            continue
        if name == "prometheus":
            peers.prometheus_url = base
        else:
            peers.alertmanager_url = base
    return peers


def glagah_kiosks(url: str, district: str = GLAGAH) -> list[str]:
    """Ids of the enabled kiosks of ``district`` (the demo's sshd stand-ins)."""
    from inventory.models import Site

    with Session(get_engine(url)) as session:
        return list(session.scalars(
            select(Device.id).join(Site, Device.site_id == Site.id)
            .where(Site.district_code == district, Device.role == "kiosk")
            .order_by(Device.id)))


def point_kiosks_at_standins(url: str, kiosks: KioskStandIns) -> None:
    """Aim the stand-in kiosks' inventory rows at their sshd: address, port, and an SSH
    profile with the demo's client key and known_hosts (SSH, not SNMP, polls them)."""
    from inventory.models import SshProfile

    with Session(get_engine(url)) as session:
        session.add(SshProfile(name="demo-kiosk", username=kiosks.user,
                               key_file=str(kiosks.client_key),
                               known_hosts_file=str(kiosks.known_hosts)))
        for device_id, host in kiosks.hosts.items():
            session.execute(
                update(Device).where(Device.id == device_id)
                .values(address=host.address, ssh_port=host.port, ssh_profile="demo-kiosk",
                        snmp_profile=None, enabled=True))
        session.commit()


def create_admin_token(url: str, path: Path) -> str:
    """An admin API token for the demo's fault routes, written to ``path`` (mode 0600)."""
    from api.auth import create_token

    with Session(get_engine(url)) as session:
        _row, token = create_token(session, "demo-admin", "admin", created_by="kentongan demo")
        session.commit()
    _write_secret(path, token)
    return token


def _write_secret(path: Path, value: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value + "\n")


def install_first_release(url: str, kiosks: KioskStandIns, release_dir: Path,
                          settings: Settings, version: str = FIRST_RELEASE) -> None:
    """Install ``version`` on the stand-in kiosks with the kiosk-update playbook (what a
    technician did before the demo began), so their app answers /health."""
    from playbooks.release import resolve_release
    from playbooks.rollout import RolloutOptions, create_rollout, run_rollout
    from playbooks.targets import TargetFilter

    engine = get_engine(url)
    try:
        rid = create_rollout(
            engine, resolve_release(version, release_dir=release_dir),
            target=TargetFilter(devices=tuple(kiosks.hosts)),
            options=RolloutOptions(canary=0, batch="100%", max_fail=1.0,
                                   respect_service_hours=False),
            created_by="kentongan demo (first install)",
        )
        summary = run_rollout(engine, rid, settings=settings, envvars=kiosks.envvars())
        logger.warning("demo: kiosk app %s on the Glagah kiosks: %s (%s)", version,
                       summary.status, summary.counts)
    except Exception:
        logger.exception("demo: installing the first kiosk release failed")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_demo(
    *,
    port: int = 8000,
    device_limit: int | None = None,
    workdir: Path = DEMO_DIR,
    poll_interval: float = 60.0,
    cut_every: float = 300.0,
    peers: bool = True,
    kiosks: bool = True,
) -> None:
    """Set everything up and serve until Ctrl-C."""
    workdir = workdir.resolve()
    import uvicorn
    from rich.console import Console

    from api.routes.demo import install_demo
    from collectors.simfleet import SimDevice, start_fleet
    from kentongan.app import create_app
    from playbooks.sample_app import build_sample_release

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("collectors.store").setLevel(logging.WARNING)  # 1,000 first "up"s
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("api.readiness.policy").setLevel(logging.WARNING)  # once per board
    with console.status("preparing the demo database (Banyuwangi sample inventory)…"):
        url, devices = prepare(workdir, device_limit=device_limit)
    standin_ids = glagah_kiosks(url) if kiosks else []
    sims = []
    for i, d in enumerate(devices):
        if d.id in standin_ids:
            continue
        version = APP_VERSIONS[i % len(APP_VERSIONS)] if d.role == "kiosk" else "2.3.1"
        sims.append(SimDevice(d.id, d.role, app_version=version))
    with console.status(f"starting the simulated fleet ({len(sims)} SNMP agents on loopback)…"):
        fleet = start_fleet(sims, workdir=workdir / "fleet", processes=2)
    cutter = None
    faults: FaultInjector | None = None
    standins: KioskStandIns | None = None
    demo_peers = DemoPeers()
    notes: list[str] = []
    try:
        point_inventory_at_fleet(
            url, {k: (v[0], v[1], v[2]) for k, v in fleet.endpoints.items()}, workdir
        )
        release_dir = workdir / "releases"
        for version in (FIRST_RELEASE, NEXT_RELEASE):
            build_sample_release(release_dir, version)
        if standin_ids:
            try:
                standins = KioskStandIns(workdir / "kiosks", standin_ids)
                standins.start_all()
                point_kiosks_at_standins(url, standins)
            except (SimFleetError, OSError, subprocess.SubprocessError) as exc:
                notes.append(f"no sshd kiosk stand-ins ({exc}); rollouts cannot be tried")
                if standins is not None:
                    standins.close()
                standins = None
        seed_history(url)
        admin_token_file = workdir / "admin_token"
        create_admin_token(url, admin_token_file)
        webhook_token = secrets.token_urlsafe(32)
        webhook_token_file = workdir / "webhook_token"
        _write_secret(webhook_token_file, webhook_token)
        engine = get_engine(url)
        with Session(engine) as session:
            faults = FaultInjector.from_inventory(session, fleet, kiosks=standins)
        if cut_every > 0:
            cutter = FibreCutter(faults, every=cut_every, lasts=cut_every / 2)
            cutter.start()
        if peers:
            with console.status("starting Prometheus and Alertmanager on loopback…"):
                demo_peers = start_peers(workdir, url=url, port=port,
                                         token_file=webhook_token_file)
            notes.extend(demo_peers.problems)
        # The stand-ins' playbook variables (templated: kiosk_root per host) are the
        # administrator's file, KENTONGAN_PLAYBOOK_VARS_FILE: the only vars Ansible templates.
        kiosk_vars = workdir / "kiosk-vars.json"
        if standins is not None:
            kiosk_vars.write_text(json.dumps(standins.extravars(), indent=2))
        settings = Settings(
            database_url=url,
            port=port,
            playbook_vars_file=kiosk_vars if standins is not None else None,
            run_poller=True,
            poll_interval_seconds=poll_interval,
            poll_timeout_seconds=3.0,
            public_readiness=True,
            webhook_token=SecretStr(webhook_token),
            release_dir=release_dir,
            service_hours="00:00-00:00",
            kiosk_root=standins.kiosk_root_pattern if standins else "/opt/kiosk",
            ssh_known_hosts=standins.known_hosts if standins else None,
        )
        env = {
            "KENTONGAN_DATABASE_URL": url,
            "KENTONGAN_RELEASE_DIR": str(release_dir),
            "KENTONGAN_SERVICE_HOURS": "00:00-00:00",
            "KENTONGAN_KIOSK_ROOT": settings.kiosk_root,
            **({"KENTONGAN_PLAYBOOK_VARS_FILE": str(kiosk_vars)} if standins else {}),
            **(standins.envvars() if standins else {}),
        }
        (workdir / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
        (workdir / "demo.json").write_text(json.dumps({
            "url": f"http://127.0.0.1:{port}",
            "admin_token_file": str(admin_token_file),
            "prometheus_url": demo_peers.prometheus_url,
            "alertmanager_url": demo_peers.alertmanager_url,
            "kiosks": {k: f"{h.address}:{h.port}" for k, h in
                       (standins.hosts.items() if standins else [])},
        }, indent=2))
        if standins is not None:
            threading.Thread(target=install_first_release,
                             args=(url, standins, release_dir, settings),
                             name="demo-first-release", daemon=True).start()
        rel = os.path.relpath(workdir)
        console.print(
            f"[bold green]Kentongan demo[/] — {len(sims)} simulated SNMP devices"
            f"{f', {len(standins.hosts)} sshd kiosks (Glagah)' if standins else ''}, "
            f"database {url}\n"
            f"  dashboard     http://127.0.0.1:{port}/\n"
            f"  API           http://127.0.0.1:{port}/docs\n"
            f"  metrics       http://127.0.0.1:{port}/metrics\n"
            f"  prometheus    {demo_peers.prometheus_url or '(not running)'}\n"
            f"  alertmanager  {demo_peers.alertmanager_url or '(not running)'}\n"
            f"  admin token   {admin_token_file} (read by `kentongan demo fault …`)\n"
            f"  a fibre cut   .venv/bin/kentongan demo fault cut fo-noc-glagah --for 10m\n"
            f"  CLI settings  set -a; . {rel}/env; set +a\n"
            f"  a rollout     .venv/bin/kentongan rollout start --version {NEXT_RELEASE} "
            f"--district {GLAGAH}   (after the CLI settings line)\n"
            "  Ctrl-C stops everything."
        )
        for note in notes:
            console.print(f"[yellow]note:[/] {note}; the demo runs without it")
        # uvicorn re-raises SIGTERM after its graceful shutdown; make that an exception so
        # the simulated agents (own sessions) are stopped below rather than orphaned.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        application = create_app(settings)
        install_demo(application, faults)
        uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning",
                    access_log=False)  # the app's own access log redacts secrets
    finally:
        if cutter is not None:
            cutter.stop()
        if faults is not None:
            faults.close()
        demo_peers.stop()
        if standins is not None:
            standins.close()
        fleet.stop()
        dispose_engines()
