"""Real peers on loopback, started and always stopped by context managers: the Kentongan
app (uvicorn in a thread), net-snmp's snmpd, an snmpsim fleet, OpenSSH's sshd, Prometheus
and Alertmanager (subprocesses). Tests and benchmarks start peers through here."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
import yaml
from fastapi import FastAPI

from collectors.simfleet import SimDevice, SimFleet, start_fleet
from collectors.simfleet.snmpd import SnmpdAgent, start_snmpd
from tests.support.ports import free_port, wait_port

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str,
             interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, OSError) as exc:  # not up yet: an error is never a result
            last = exc
        else:
            last = result
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port; yields ``host:port``."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="kentongan-app", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=20, what="the app to start")
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def process(args: list[str], *, log: Path, ready_url: str | None = None,
            ready: Callable[[], bool] | None = None, timeout: float = 30) -> Iterator[None]:
    """Start a process (output to ``log``), wait until ready, always stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        def check() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{args[0]} exited {proc.returncode}: "
                                     f"{log.read_text()[-2000:]}")
            if ready_url:
                return httpx.get(ready_url, timeout=2).status_code == 200
            return bool(ready()) if ready else True

        wait_for(check, timeout=timeout, what=f"{args[0]} to be ready")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def snmpd(workdir: Path, *, sys_name: str) -> Iterator[int]:
    """net-snmp's snmpd answering v2c community ``public`` on a free loopback UDP port."""
    port = free_port(kind="udp")
    conf = workdir / "snmpd.conf"
    conf.write_text(f"rocommunity public 127.0.0.1\nsysName {sys_name}\n")

    def answers() -> bool:
        out = subprocess.run(["/usr/bin/snmpget", "-v2c", "-c", "public", "-On", "-t", "0.5",
                              "-r", "0", f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"],
                             capture_output=True, text=True)
        return sys_name in out.stdout

    args = ["/usr/sbin/snmpd", "-f", "-Lo", "-C", "-I", "-smux", "-c", str(conf),
            f"udp:127.0.0.1:{port}"]
    with process(args, log=workdir / "snmpd.log", ready=answers):
        yield port


@contextlib.contextmanager
def prometheus(workdir: Path, config: dict[str, Any], *,
               retention: str | None = None) -> Iterator[str]:
    """Prometheus with ``config`` on a free port; yields its base URL. ``retention``
    (e.g. ``400d``) keeps backfilled history older than the default 15 days."""
    port = free_port()
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "tsdb").mkdir(exist_ok=True)
    args = ["/usr/bin/prometheus", f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    if retention:
        args.append(f"--storage.tsdb.retention.time={retention}")
    url = f"http://127.0.0.1:{port}"
    with process(args, log=workdir / "prometheus.log", ready_url=f"{url}/-/ready"):
        yield url


@contextlib.contextmanager
def backfilled_prometheus(workdir: Path, openmetrics: str, *,
                          retention: str | None = None) -> Iterator[str]:
    """A Prometheus whose TSDB holds ``openmetrics`` history (``promtool tsdb
    create-blocks-from``), scraping nothing; yields its base URL."""
    (workdir / "history.om").write_text(openmetrics)
    subprocess.run(["/usr/bin/promtool", "tsdb", "create-blocks-from", "openmetrics",
                    str(workdir / "history.om"), str(workdir / "tsdb")], check=True,
                   capture_output=True, timeout=120)
    with prometheus(workdir, {"global": {"scrape_interval": "1m"}, "scrape_configs": []},
                    retention=retention) as url:
        yield url


@contextlib.contextmanager
def alertmanager(workdir: Path, config: dict[str, Any]) -> Iterator[str]:
    """Alertmanager with ``config`` on a free port, clustering off; yields its base URL."""
    port = free_port()
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (workdir / "am").mkdir(exist_ok=True)
    args = ["/usr/bin/prometheus-alertmanager", f"--config.file={path}",
            f"--storage.path={workdir / 'am'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with process(args, log=workdir / "alertmanager.log", ready_url=f"{url}/-/ready"):
        yield url


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    """Instant query through Prometheus's HTTP API."""
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    return r.json()["data"]["result"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def netsnmp_agent(workdir: Path, **kwargs: Any) -> Iterator[SnmpdAgent]:
    """A configured net-snmp agent (:func:`collectors.simfleet.snmpd.start_snmpd`: v3
    users, extends, overrides), always stopped."""
    agent = start_snmpd(workdir=workdir, **kwargs)
    try:
        yield agent
    finally:
        agent.stop()


@contextlib.contextmanager
def snmpsim_fleet(devices: Sequence[SimDevice], workdir: Path, **kwargs: Any) -> Iterator[SimFleet]:
    """An snmpsim fleet answering as ``devices`` (:func:`collectors.simfleet.start_fleet`),
    always stopped."""
    fleet = start_fleet(devices, workdir=workdir, **kwargs)
    try:
        yield fleet
    finally:
        fleet.stop()


SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"


def keygen(path: Path, *, comment: str = "kentongan-test") -> str:
    """A throw-away ed25519 key pair at ``path``; returns the public key line."""
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@contextlib.contextmanager
def sshd(config: Path, *, log: Path, address: str, port: int,
         timeout: float = 15) -> Iterator[subprocess.Popen[bytes]]:
    """OpenSSH's sshd (absolute path, foreground) with ``config``, listening on
    ``address:port`` (which the config names); always stopped. Yields the process."""
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(log)],
                            stdin=subprocess.DEVNULL)
    try:
        try:
            wait_port(address, port, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"sshd did not listen on {address}:{port}: "
                                 f"{log.read_text()[-2000:] if log.exists() else ''}") from None
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
