"""Nothing waits on the event loop (issue 9, item 3), against a real ``kentongan serve``.

200 concurrent ``/probe`` calls (half to a silent device: a UDP socket that never answers,
half to a real snmpd) and 50 slow-drip uploads (bodies trickled byte by byte) while the
poller runs: ``/healthz`` answers in under 1 s throughout, and the poller keeps writing
(its newest poll is never older than two intervals).
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from api.auth import Role, create_token
from inventory.db import make_engine, session_scope
from inventory.models import Device, SnmpProfile
from kentongan.app import upgrade
from tests.alerts.peers import process, snmpd
from tests.alerts.support import free_port, seed

INTERVAL = 3.0
SCRAPE = "ktg_scrape_event_loop_test"
BODY_TIMEOUT = 8.0


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A loopback UDP port that reads and never answers (a device that went quiet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _newest_poll(db: Path) -> float | None:
    """Seconds since the poller's newest write (None before its first)."""
    with sqlite3.connect(db, timeout=5) as conn:
        row = conn.execute("SELECT max(last_poll_at) FROM device_states").fetchone()
    if not row or row[0] is None:
        return None
    at = datetime.fromisoformat(str(row[0]))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (datetime.now(UTC) - at).total_seconds()


async def _drip(port: int, token: str, path: str, *, duration: float) -> bytes:
    """POST a body one byte at a time; return the server's answer (or b"" if none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body_len = 4096
    writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {body_len}\r\n\r\n").encode())
    await writer.drain()
    end = time.monotonic() + duration
    try:
        while time.monotonic() < end:
            writer.write(b" ")
            await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(4096), 0.25)
            except TimeoutError:
                continue
            return answer
        return b""
    except (ConnectionError, OSError):
        return b"closed"
    finally:
        writer.close()


@pytest.mark.integration
def test_probes_and_slow_uploads_do_not_stall_the_server(
    tmp_path: Path, silent_udp: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "kentongan.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine)
    community = tmp_path / "community"
    community.write_text("public\n")
    token_file = tmp_path / "scrape_token"
    token_file.write_text(SCRAPE)
    with snmpd(tmp_path, sys_name="edge-loop-test") as snmp_port:
        with session_scope(engine) as session:
            session.add(SnmpProfile(name="edge-v2c", version="2c",
                                    community_file=str(community),
                                    allowed_networks=["127.0.0.0/8"]))
            _row, engineer = create_token(session, "loop-engineer", Role.ENGINEER)
        with engine.begin() as conn:
            conn.execute(update(Device).values(enabled=False))
            conn.execute(update(Device).where(Device.id == "olt-noc").values(
                enabled=True, address="127.0.0.1", snmp_port=snmp_port,
                snmp_profile="edge-v2c"))
            conn.execute(update(Device).where(Device.id == "olt-glagah").values(
                enabled=True, address="127.0.0.1", snmp_port=silent_udp,
                snmp_profile="edge-v2c"))
        engine.dispose()
        port = free_port()
        for key, value in {
            "KENTONGAN_DATABASE_URL": url, "KENTONGAN_POLL_INTERVAL_SECONDS": str(INTERVAL),
            "KENTONGAN_POLL_TIMEOUT_SECONDS": "1", "KENTONGAN_POLL_RETRIES": "1",
            "KENTONGAN_SCRAPE_TOKEN_FILE": str(token_file),
            "KENTONGAN_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "KENTONGAN_READINESS_CACHE_SECONDS": "600", "KENTONGAN_LOG_LEVEL": "WARNING",
        }.items():
            monkeypatch.setenv(key, value)
        base = f"http://127.0.0.1:{port}"
        args = [str(Path(sys.executable).with_name("kentongan")), "serve", "--port", str(port)]
        with process(args, log=tmp_path / "serve.log", ready_url=f"{base}/healthz"):
            deadline = time.monotonic() + 30
            while (_newest_poll(db) or 1e9) > INTERVAL and time.monotonic() < deadline:
                time.sleep(0.3)
            assert _newest_poll(db) is not None, "the poller wrote nothing"
            result = asyncio.run(_storm(base, port, engineer, db))
        log = (tmp_path / "serve.log").read_text()
    health, ages, probes, drips = result
    assert max(health) < 1.0, f"/healthz took {max(health):.2f} s under load: {health}"
    assert len(health) >= 20
    assert max(ages) <= 2 * INTERVAL, f"newest poll {max(ages):.1f} s old under load"
    assert all(s in (200, 429) for s, _ in probes), sorted({s for s, _ in probes})
    live = [t for s, t in probes if s == 200 and "kentongan_probe_success 1.0" in t]
    assert live, "some probes of the live device answered"
    assert any(s == 429 for s, _ in probes), "the probe limit refused the excess"
    assert all(b" 408 " in d.split(b"\r\n", 1)[0] for d in drips), drips[:3]
    # the access log is on by default in `kentongan serve`, and holds no token
    assert '"GET /probe?target=olt-noc&module=snmp" 200' in log
    assert "prometheus-scrape" in log and "loop-engineer" in log
    assert SCRAPE not in log and engineer not in log
    print(f"\n/healthz under load: max {max(health) * 1000:.0f} ms over {len(health)} calls; "
          f"newest poll at most {max(ages):.1f} s old; probes: "
          f"{sum(s == 200 for s, _ in probes)} answered, {sum(s == 429 for s, _ in probes)} "
          f"told to retry; {len(drips)} slow uploads cut after {BODY_TIMEOUT:g} s")


async def _storm(base: str, port: int, engineer: str, db: Path
                 ) -> tuple[list[float], list[float], list[tuple[int, str]], list[bytes]]:
    health: list[float] = []
    ages: list[float] = []
    stop = threading.Event()
    ready = threading.Event()

    def watch() -> None:
        # its own thread and client: the latency measured is the server's, not this
        # test's busy event loop
        with httpx.Client(base_url=base, timeout=10) as own:
            own.get("/healthz")  # connect before the storm starts
            ready.set()
            while not stop.is_set():
                t0 = time.perf_counter()
                r = own.get("/healthz")
                health.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["status"] == "ok", r.text
                age = _newest_poll(db)
                if age is not None:
                    ages.append(age)
                time.sleep(0.2)

    async def one_probe(i: int) -> tuple[int, str]:
        # raw HTTP/1.1: a light client, so the load is on the server, not on this test
        target = "olt-glagah" if i % 2 else "olt-noc"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write((f"GET /probe?target={target}&module=snmp HTTP/1.1\r\n"
                          f"Host: 127.0.0.1\r\nAuthorization: Bearer {SCRAPE}\r\n"
                          "Connection: close\r\n\r\n").encode())
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body.decode(errors="replace")

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    while not ready.is_set():
        await asyncio.sleep(0.05)
    # the webhook (async, reads its own body) and a sync JSON route, 25 each
    drips = [asyncio.create_task(_drip(port, engineer,
                                       "/api/v1/alerts" if i % 2 else "/api/v1/sites",
                                       duration=BODY_TIMEOUT + 6))
             for i in range(50)]
    await asyncio.sleep(0.5)
    probes = list(await asyncio.gather(*(one_probe(i) for i in range(200))))
    drip_answers = list(await asyncio.gather(*drips))
    await asyncio.sleep(INTERVAL)
    stop.set()
    await watcher
    return health, ages, probes, drip_answers
