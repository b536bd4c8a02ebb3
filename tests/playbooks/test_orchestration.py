"""Orchestration rules that need no kiosk to answer: service hours, waves, abort, and
telling a live rollout from one whose process died."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from core.settings import Settings
from inventory.db import session_scope
from playbooks.choices import HostState, RolloutStatus, WaveMode
from playbooks.errors import RolloutError
from playbooks.models import Rollout
from playbooks.release import resolve_release
from playbooks.rollout import (
    RolloutOptions,
    abort_rollout,
    create_rollout,
    rollout_is_stale,
    run_rollout,
)
from playbooks.sample_app import build_sample_release
from playbooks.schedule import ServiceWindow
from playbooks.targets import TargetFilter
from tests.playbooks.conftest import add_kiosks
from tests.playbooks.helpers import hosts, rollout
from tests.playbooks.kiosks import KioskFleet

WINDOW = ServiceWindow.parse("08:00-15:00", "mon,tue,wed,thu,fri")
MONDAY_0900_WIB = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dark_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """Kiosks whose sshd never starts: every connection is refused at once."""
    addresses = ["127.0.3.31", "127.0.3.32", "127.0.3.33", "127.0.3.34", "127.0.3.35"]
    with KioskFleet(tmp_path_factory.mktemp("dark"), addresses) as fleet:
        yield fleet


@pytest.fixture
def dark(engine: Engine, dark_fleet: KioskFleet, tmp_path: Path) -> tuple[Engine, Path]:
    add_kiosks(engine, dark_fleet)
    build_sample_release(tmp_path, "1.0.0")
    return engine, tmp_path


def _create(engine: Engine, releases: Path, fleet: KioskFleet, **options: object) -> int:
    return create_rollout(
        engine,
        resolve_release("1.0.0", release_dir=releases),
        target=TargetFilter(),
        options=RolloutOptions(extra_vars=fleet.extravars(), **options),  # type: ignore[arg-type]
    )


def test_no_kiosk_restarts_during_service_hours(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet, sqlite_url: str
) -> None:
    engine, releases = dark
    rid = _create(engine, releases, dark_fleet, canary=0, batch="100%")
    summary = run_rollout(engine, rid, clock=lambda: MONDAY_0900_WIB, window=WINDOW,
                          settings=Settings(database_url=sqlite_url))
    assert summary.status == RolloutStatus.PAUSED
    assert "service hours" in (summary.message or "") and "15:00 WIB" in (summary.message or "")
    assert all(h.attempts == 0 and h.state == HostState.PENDING
               for h in hosts(engine, rid).values())


def test_waiting_for_the_window_then_running(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet, sqlite_url: str
) -> None:
    engine, releases = dark
    rid = _create(engine, releases, dark_fleet, canary=0, batch="100%")
    now = [MONDAY_0900_WIB]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    summary = run_rollout(engine, rid, clock=lambda: now[0], sleep=sleep, window=WINDOW,
                          wait_for_window=True, settings=Settings(database_url=sqlite_url),
                          envvars=dark_fleet.envvars())
    assert sum(slept) >= 6 * 3600  # waited until 15:00 WIB
    assert not WINDOW.is_serving(now[0])
    rows = hosts(engine, rid)
    assert all(h.attempts == 1 for h in rows.values())
    # Nothing answers: every kiosk is pending with a backoff, the rollout is paused.
    assert {h.state for h in rows.values()} == {HostState.PENDING}
    assert all(h.next_try_at is not None for h in rows.values())
    assert summary.status == RolloutStatus.PAUSED


def test_tree_waves_are_recorded_as_batches(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet
) -> None:
    engine, releases = dark
    rid = _create(engine, releases, dark_fleet, canary=0, batch="100%", waves=WaveMode.TREE,
                  canary_village="35.10.16.2001")
    batches = {d: h.batch for d, h in hosts(engine, rid).items()}
    assert batches == {"kiosk-3": 0, "kiosk-4": 0, "kiosk-1": 1, "kiosk-2": 1, "kiosk-5": 1}


def test_abort_skips_pending_kiosks_and_cannot_be_resumed(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet, sqlite_url: str
) -> None:
    engine, releases = dark
    rid = _create(engine, releases, dark_fleet)
    summary = abort_rollout(engine, rid, by="pytest")
    assert summary.status == RolloutStatus.ABORTED
    assert {h.state for h in hosts(engine, rid).values()} == {HostState.SKIPPED}
    with pytest.raises(RolloutError, match="aborted"):
        run_rollout(engine, rid, settings=Settings(database_url=sqlite_url))


def test_live_rollout_is_not_taken_over_but_a_dead_one_is(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet, sqlite_url: str
) -> None:
    engine, releases = dark
    rid = _create(engine, releases, dark_fleet)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with session_scope(engine) as session:
            session.execute(
                update(Rollout).where(Rollout.id == rid).values(
                    status="running", pid=sleeper.pid, runner_host=os.uname().nodename,
                    heartbeat_at=datetime.now(UTC),
                )
            )
        assert not rollout_is_stale(rollout(engine, rid))
        with pytest.raises(RolloutError, match=f"being run by pid {sleeper.pid}"):
            run_rollout(engine, rid, settings=Settings(database_url=sqlite_url))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert rollout_is_stale(rollout(engine, rid))
    with session_scope(engine) as session:
        session.execute(update(Rollout).where(Rollout.id == rid).values(
            pid=999_999_999, runner_host="another-controller",
            heartbeat_at=datetime.now(UTC) - timedelta(minutes=10)))
    assert rollout_is_stale(rollout(engine, rid))


def test_pause_between_batches_and_unreachable_is_not_a_failure(
    dark: tuple[Engine, Path], dark_fleet: KioskFleet, sqlite_url: str
) -> None:
    engine, releases = dark
    # No canary: an unreachable canary halts the rollout (tests/playbooks/test_canary.py).
    rid = _create(engine, releases, dark_fleet, canary=0, batch="2", pause=30, max_fail=0)
    slept: list[float] = []
    summary = run_rollout(engine, rid, sleep=slept.append,
                          settings=Settings(database_url=sqlite_url, service_hours="00:00-00:00"),
                          envvars=dark_fleet.envvars())
    # Three batches (2 + 2 + 1), a pause before each batch after the first; nothing halts
    # although no kiosk answered.
    assert slept == [30, 30]
    assert summary.status == RolloutStatus.PAUSED
    assert summary.counts == {HostState.PENDING: 5}
    assert {h.attempts for h in hosts(engine, rid).values()} == {1}
