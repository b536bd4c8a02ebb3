"""Rollout scenarios with real Ansible over real OpenSSH to sshd kiosks on 127.0.3.x.

The tests share one fleet and run in file order; each one states the kiosks' releases
it needs first, so any single test also runs alone.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from core.timeutil import utcnow
from inventory.db import session_scope
from inventory.models import Device
from playbooks.choices import HostState, RolloutStatus
from playbooks.rollout import on_device_up, resume_rollout
from tests.playbooks.conftest import kiosk
from tests.playbooks.helpers import app_version, events, hosts, rollout, start_rollout
from tests.playbooks.kiosks import KioskFleet, free_port

pytestmark = pytest.mark.integration

FOUR = ["kiosk-1", "kiosk-2", "kiosk-3", "kiosk-4"]


def ensure(engine: Engine, fleet: KioskFleet, releases: Path, version: str, devices: list[str],
           settings: Settings) -> None:
    """Bring ``devices`` onto ``version`` when they are not on it already."""
    behind = [d for d in devices if kiosk(fleet, d).current != version]
    if behind:
        _rid, summary = start_rollout(engine, fleet, releases, version, behind,
                                      settings=settings, canary=0)
        assert summary is not None and summary.status == RolloutStatus.COMPLETED, summary


def test_all_kiosks_succeed_canary_first(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    rid, summary = start_rollout(
        inventory, fleet, releases, "1.0.0", FOUR, settings=rollout_settings,
        canary=1, batch="100%",
    )
    assert summary is not None
    assert summary.status == RolloutStatus.COMPLETED, summary.message
    rows = hosts(inventory, rid)
    assert {d: h.state for d, h in rows.items()} == dict.fromkeys(FOUR, HostState.CHANGED)
    assert [rows[d].batch for d in FOUR] == [0, 1, 1, 1]
    assert all(h.attempts == 1 and h.last_task for h in rows.values())
    for name in FOUR:
        k = kiosk(fleet, name)
        assert k.current == "1.0.0"
        assert app_version(fleet, k) == "1.0.0"
    kinds = [e.kind for e in events(inventory, rid)]
    assert kinds.count("batch") == 2 and kinds.count("changed") > 8
    row = rollout(inventory, rid)
    assert row.pid is None and row.finished_at is not None


def test_rerun_changes_nothing(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    ensure(inventory, fleet, releases, "1.0.0", FOUR, rollout_settings)
    pids = {name: kiosk(fleet, name).app_pid() for name in FOUR}
    rid, summary = start_rollout(
        inventory, fleet, releases, "1.0.0", FOUR, settings=rollout_settings, canary=0
    )
    assert summary is not None and summary.status == RolloutStatus.COMPLETED
    assert {h.state for h in hosts(inventory, rid).values()} == {HostState.OK}
    assert not [e for e in events(inventory, rid) if e.kind == "changed"]
    assert {name: kiosk(fleet, name).app_pid() for name in FOUR} == pids


def test_failed_health_check_rolls_back_and_rollout_continues(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    ensure(inventory, fleet, releases, "1.0.0", FOUR, rollout_settings)
    bad = kiosk(fleet, "kiosk-3")
    (bad.root / "fail-versions").write_text("1.1.0\n")
    try:
        rid, summary = start_rollout(
            inventory, fleet, releases, "1.1.0", FOUR, settings=rollout_settings,
            canary=0, batch="100%", max_fail=50,
        )
    finally:
        (bad.root / "fail-versions").unlink()
    assert summary is not None
    assert summary.status == RolloutStatus.COMPLETED, summary.message
    rows = hosts(inventory, rid)
    assert rows["kiosk-3"].state == HostState.ROLLED_BACK
    assert "1.1.0" in (rows["kiosk-3"].message or "")
    assert rows["kiosk-3"].previous_version == "1.0.0"
    assert bad.current == "1.0.0" and app_version(fleet, bad) == "1.0.0"
    for name in ("kiosk-1", "kiosk-2", "kiosk-4"):
        assert rows[name].state == HostState.CHANGED
        assert app_version(fleet, kiosk(fleet, name)) == "1.1.0"
    assert "1 kiosk(s) failed or rolled back" in (summary.message or "")


def test_failures_beyond_max_fail_halt_and_leave_the_rest_untouched(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    before = {name: (kiosk(fleet, name).current, kiosk(fleet, name).releases()) for name in FOUR}
    rid, summary = start_rollout(
        inventory, fleet, releases, "9.9.9-broken", FOUR, settings=rollout_settings,
        canary=0, batch="2", max_fail=25,
    )
    assert summary is not None
    assert summary.status == RolloutStatus.HALTED
    assert "2 of 2" in (summary.message or "")
    rows = hosts(inventory, rid)
    for name in ("kiosk-1", "kiosk-2"):
        previous = before[name][0]
        assert rows[name].state == (HostState.ROLLED_BACK if previous else HostState.FAILED)
        assert kiosk(fleet, name).current == previous
        assert app_version(fleet, kiosk(fleet, name)) == previous
    for name in ("kiosk-3", "kiosk-4"):
        assert rows[name].state == HostState.PENDING and rows[name].attempts == 0
        assert (kiosk(fleet, name).current, kiosk(fleet, name).releases()) == before[name]
    with pytest.raises(Exception, match="halted"):
        resume_rollout(inventory, rid, settings=rollout_settings, envvars=fleet.envvars())


def test_unreachable_kiosk_stays_pending_then_resumes_when_back(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    offline = kiosk(fleet, "kiosk-5")
    fleet.stop(offline)
    rid, summary = start_rollout(
        inventory, fleet, releases, "2.0.0", ["kiosk-4", "kiosk-5"], settings=rollout_settings,
        canary=0, auto_resume=True,
    )
    assert summary is not None
    assert summary.status == RolloutStatus.PAUSED
    rows = hosts(inventory, rid)
    assert rows["kiosk-4"].state == HostState.CHANGED
    assert rows["kiosk-5"].state == HostState.PENDING
    assert rows["kiosk-5"].next_try_at is not None
    assert "unreachable" in (rows["kiosk-5"].message or "")
    assert any(e.kind == "unreachable" and e.device_id == "kiosk-5" for e in events(inventory, rid))

    # Back up, but still within its backoff: the poller's hook waits.
    fleet.start(offline)
    assert on_device_up(inventory, "kiosk-5", settings=rollout_settings,
                        envvars=fleet.envvars()) == []
    later = utcnow() + timedelta(hours=1)
    results = on_device_up(inventory, "kiosk-5", clock=lambda: later,
                           settings=rollout_settings, envvars=fleet.envvars())
    assert [r.status for r in results] == [RolloutStatus.COMPLETED]
    rows = hosts(inventory, rid)
    assert rows["kiosk-5"].state == HostState.CHANGED and rows["kiosk-5"].attempts == 2
    assert rows["kiosk-4"].attempts == 1
    assert offline.current == "2.0.0" and app_version(fleet, offline) == "2.0.0"


def test_kiosk_unreachable_for_days_ends_unreachable(
    inventory: Engine, fleet: KioskFleet, releases: Path, rollout_settings: Settings
) -> None:
    with session_scope(inventory) as session:
        session.add(Device(id="kiosk-gone", site_id="kantor-desa-35-10-16-2001", role="kiosk",
                           address="127.0.3.9", ssh_port=free_port("127.0.3.9"),
                           ssh_profile="kiosk-root", tags=[]))
    rid, summary = start_rollout(inventory, fleet, releases, "1.0.0", ["kiosk-gone"],
                                 settings=rollout_settings, canary=0)
    assert summary is not None and summary.status == RolloutStatus.PAUSED
    assert hosts(inventory, rid)["kiosk-gone"].state == HostState.PENDING
    eight_days = utcnow() + timedelta(days=8)
    summary = resume_rollout(inventory, rid, clock=lambda: eight_days,
                             settings=rollout_settings, envvars=fleet.envvars())
    assert summary.status == RolloutStatus.COMPLETED
    row = hosts(inventory, rid)["kiosk-gone"]
    assert row.state == HostState.UNREACHABLE and row.attempts == 2
