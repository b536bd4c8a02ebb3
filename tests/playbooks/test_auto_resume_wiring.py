"""The poller's "kiosk is back up" reaches pending rollouts inside ``kentongan serve``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from collectors.store import Transition
from core.settings import Settings
from core.timeutil import utcnow
from inventory.db import session_scope
from kentongan.app import create_app
from playbooks.choices import HostState, RolloutStatus
from playbooks.models import RolloutHost
from playbooks.rollout import on_device_up
from playbooks.service import make_listener
from tests.playbooks.conftest import kiosk, running_fleet
from tests.playbooks.helpers import app_version, hosts, rollout, start_rollout
from tests.playbooks.kiosks import KioskFleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """A fleet of this module's own (127.0.5.x), so that what these tests do to kiosks
    never meets the session fleet's scenarios."""
    yield from running_fleet(
        tmp_path_factory.mktemp("fleet-5"), [f"127.0.5.{i}" for i in range(1, 6)]
    )


def _back_up(device: str, *, came_from: str = "unreachable") -> Transition:
    return Transition(
        kind="device",
        subject=device,
        from_status=came_from,
        to_status="up",
        at=utcnow(),
        reason=None,
    )


def test_serve_registers_the_listener(sqlite_url: str, engine: Engine) -> None:
    app = create_app(Settings(database_url=sqlite_url, run_poller=True))
    listeners = app.state.transition_listeners
    assert any(getattr(fn, "__qualname__", "").startswith("make_listener") for fn in listeners)


def test_only_devices_coming_back_up_are_resumed(engine: Engine, sqlite_url: str) -> None:
    calls: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        listener = make_listener(
            engine,
            Settings(database_url=sqlite_url),
            executor=pool,
            resume=lambda _e, device, **_kw: calls.append(device) or [],
        )
        listener(
            [
                _back_up("kiosk-a"),
                Transition("device", "kiosk-b", "up", "down", utcnow(), None),
                Transition("link", "fo-x", "down", "up", utcnow(), None),
                _back_up("kiosk-c", came_from="down"),
            ]
        )
    assert calls == ["kiosk-a", "kiosk-c"]


def test_kiosk_back_up_finishes_its_rollout_through_the_listener(
    inventory: Engine,
    fleet: KioskFleet,
    releases: Path,
    rollout_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    offline = kiosk(fleet, "kiosk-5")
    fleet.stop(offline)
    try:
        rid, summary = start_rollout(
            inventory,
            fleet,
            releases,
            "2.0.0",
            ["kiosk-5"],
            settings=rollout_settings,
            canary=0,
            auto_resume=True,
        )
    finally:
        fleet.start(offline)
    assert summary is not None and summary.status == RolloutStatus.PAUSED
    assert hosts(inventory, rid)["kiosk-5"].state == HostState.PENDING
    with session_scope(inventory) as session:  # past its backoff
        session.execute(
            update(RolloutHost)
            .where(RolloutHost.rollout_id == rid)
            .values(next_try_at=utcnow() - timedelta(minutes=1))
        )

    def resume(engine: Engine, device: str, **kw: object) -> object:
        return on_device_up(engine, device, envvars=fleet.envvars(), **kw)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=1) as pool:
        listener = make_listener(inventory, rollout_settings, executor=pool, resume=resume)
        listener([_back_up("kiosk-5")])
    assert rollout(inventory, rid).status == RolloutStatus.COMPLETED
    assert hosts(inventory, rid)["kiosk-5"].state == HostState.CHANGED
    assert app_version(fleet, offline) == "2.0.0"
    assert not [
        r for r in caplog.records if r.name == "playbooks.service" and r.levelno >= logging.ERROR
    ], "the listener must not fail"
