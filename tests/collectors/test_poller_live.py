"""The scheduler with the real SSH collector against sshd and its faults, and the poller
running inside the API's lifespan."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from collectors.scheduler import Scheduler
from collectors.ssh import SshCollector
from collectors.store import DeviceStateView, StorePolicy, device_states
from core.settings import Settings
from inventory.db import session_scope
from inventory.models import Device, SshProfile
from kentongan.app import create_app
from tests.collectors.conftest import seed_inventory
from tests.collectors.sshd import SshLab, make_kiosk

pytestmark = pytest.mark.integration


def add_kiosks(engine: Engine, lab: SshLab) -> dict[str, str]:
    """A healthy kiosk plus one per fault, all at the Kemiren office; returns id → fault."""
    make_kiosk(lab.kiosk_root / "kiosk-kemiren-1", version="3.1.0", pid=os.getpid())
    faults = {
        "kiosk-kemiren-1": (lab.healthy[0], lab.port, "kiosk"),
        "kiosk-badkey": (lab.healthy[1], lab.port, "stranger"),
        "kiosk-mismatch": (lab.mismatch, lab.port, "kiosk"),
        "kiosk-unknown": (lab.unknown, lab.port, "kiosk"),
        "kiosk-stall": (lab.stall[0], lab.stall[1], "kiosk"),
        "kiosk-refused": (lab.refused[0], lab.refused[1], "kiosk"),
    }
    with session_scope(engine) as s:
        s.add_all([
            SshProfile(name="kiosk", username=lab.user, key_file=str(lab.client_key),
                       known_hosts_file=str(lab.known_hosts)),
            SshProfile(name="stranger", username=lab.user, key_file=str(lab.stranger_key),
                       known_hosts_file=str(lab.known_hosts)),
        ])
        s.flush()
        for did, (address, port, profile) in faults.items():
            d = s.get(Device, did) or Device(id=did, site_id="kantor-desa-kemiren",
                                             role="kiosk")
            d.address, d.ssh_port, d.ssh_profile = address, port, profile
            s.add(d)
        for d in ("olt-glagah", "rtr-kemiren"):
            s.get(Device, d).enabled = False  # type: ignore[union-attr]
    return {k: v[0] for k, v in faults.items()}


async def test_faulty_kiosks_never_stop_the_healthy_one(
    engine: Engine, ssh_lab_session: SshLab
) -> None:
    lab = ssh_lab_session
    seed_inventory(engine)
    add_kiosks(engine, lab)
    stall = 10.0
    ssh = SshCollector(workers=8, timeout=stall, read_timeout=30.0, deadline=60.0,
                       kiosk_root=str(lab.kiosk_root / "{device_id}"))
    policy = StorePolicy(down_after_failures=1, stale_after_intervals=100,
                         default_interval_seconds=0.5)
    sched = Scheduler(engine, {"ssh": ssh}, policy=policy, default_interval=0.5,
                      deadline_seconds=60.0, flush_seconds=0.2, jitter=False,
                      max_backoff_seconds=1.0)
    expected = {
        "kiosk-badkey": "auth failed",
        "kiosk-mismatch": "host key mismatch",
        "kiosk-unknown": "unknown host key",
        "kiosk-refused": "connection refused",
        "kiosk-stall": "timeout: no SSH banner",
    }

    def views() -> dict[str, DeviceStateView]:
        with session_scope(engine) as s:
            return {v.device_id: v for v in device_states(s, policy=policy)}

    healthy_when_stall_ended: int | None = None
    await sched.start()
    try:
        deadline = time.monotonic() + 120  # generous: a loaded 2-core CI machine is slow
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now = views()
            stall_done = "kiosk-stall" in now and now["kiosk-stall"].polls_total > 0
            if stall_done and healthy_when_stall_ended is None:
                healthy_when_stall_ended = now["kiosk-kemiren-1"].polls_total
            if all(d in now and now[d].status == "down" for d in expected):
                break
    finally:
        stats = sched.stats()
        await sched.stop()
    final = views()
    for did, reason in expected.items():
        assert final[did].status == "down", (did, final[did])
        assert (final[did].reason or "").startswith(reason), (did, final[did].reason)
    healthy = final["kiosk-kemiren-1"]
    assert healthy.status == "up" and healthy.kiosk_app_version == "3.1.0"
    # while the stalled server held its first poll (10 s), the healthy kiosk kept polling
    assert healthy_when_stall_ended is not None and healthy_when_stall_ended >= 2, healthy
    assert stats.timeouts_total >= 1


def test_serve_runs_the_poller_in_the_lifespan(
    engine: Engine, sqlite_url: str, ssh_lab_session: SshLab
) -> None:
    lab = ssh_lab_session
    seed_inventory(engine)
    add_kiosks(engine, lab)
    with session_scope(engine) as s:
        for d in s.query(Device).filter(Device.id != "kiosk-kemiren-1"):
            d.enabled = False
    settings = Settings(database_url=sqlite_url, run_poller=True, poll_interval_seconds=0.3,
                        kiosk_root=str(lab.kiosk_root / "{device_id}"),
                        poll_reload_seconds=60)
    app = create_app(settings)
    with TestClient(app) as client:
        sched = app.state.poller
        assert app.state.scheduler is sched  # what /metrics reads
        assert isinstance(sched, Scheduler) and sched.stats().running
        deadline = 30.0
        while deadline > 0:
            with session_scope(engine) as s:
                views = device_states(s, ["kiosk-kemiren-1"])
            if views and views[0].status == "up":
                break
            time.sleep(0.1)
            deadline -= 0.1
        assert views and views[0].status == "up" and views[0].kiosk_app_version == "3.1.0"
        assert sched.stats().polls_total >= 1
        time.sleep(0.5)  # one cycle over the single kiosk
        stats = sched.stats()
        assert stats.cycle_duration_seconds is not None
        assert stats.last_cycle_timestamp_seconds is not None
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert "kentongan_poller_last_cycle_timestamp_seconds " in metrics.text
        assert "kentongan_poller_cycle_duration_seconds " in metrics.text
    assert app.state.poller is None
    assert not sched.stats().running


def test_poller_off_when_settings_say_so(sqlite_url: str, engine: Engine) -> None:
    app = create_app(Settings(database_url=sqlite_url, run_poller=False))
    with TestClient(app):
        assert app.state.poller is None
