"""The short never-brick campaign (issue 17): 6 stand-in kiosks x 5 rounds = 30 real
kiosk updates, a random kiosk-side fault in half of them (every kind of
``tests/playbooks/campaign.py``); no kiosk may be left without a complete, working
release and every rollout record must say what its kiosk is on. The full 1,000-update
campaign is ``benchmarks/never_brick.py``."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from tests.playbooks.campaign import Campaign, Fault
from tests.playbooks.kiosks import KioskFleet

pytestmark = pytest.mark.integration


@pytest.fixture
def campaign_fleet(tmp_path: Path) -> Iterator[KioskFleet]:
    """Six kiosks of this test's own on 127.0.7.x, releases/ on a 512 KiB tmpfs each."""
    with KioskFleet(tmp_path / "fleet", [f"127.0.7.{i}" for i in range(1, 7)], prefix="c",
                    release_area_bytes=512 * 1024) as fleet:
        fleet.start_all()
        yield fleet


@pytest.mark.timeout(1800)
def test_thirty_updates_with_faults_brick_no_kiosk(
    engine: Engine, sqlite_url: str, campaign_fleet: KioskFleet, tmp_path: Path
) -> None:
    c = Campaign(
        campaign_fleet, engine,
        Settings(database_url=sqlite_url, run_poller=False, service_hours="00:00-00:00",
                 service_days="mon"),
        tmp_path / "releases", random.Random(1017), share=0.5,
    )
    c.seed_inventory()
    c.prepare()
    for number in range(1, 6):
        c.run_round(number)
    report = c.table()
    assert len(c.updates) == 30
    assert sum(u.fault != Fault.NONE for u in c.updates) >= 8, report
    bad = [(u.kiosk, u.round, u.fault, u.state, u.message, u.problem, u.untruthful)
           for u in c.updates if u.bricked or u.untruthful]
    assert not bad, f"{bad}\n{report}"
    # Every kiosk ends on a complete release that answers its health check.
    assert all(c.fleet.check(k) == "" for k in c.fleet.kiosks), report
