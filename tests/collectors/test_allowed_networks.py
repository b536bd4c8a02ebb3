"""A credential profile's ``allowed_networks``: the poller sends its secret only there; a
device outside is a configuration-error result (with the reason), never a connection."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, update

from collectors.scheduler import Scheduler
from collectors.store import StorePolicy
from inventory.db import session_scope
from inventory.models import Device, SnmpProfile
from tests.collectors.conftest import seed_inventory
from tests.collectors.test_scheduler import FakeCollector

SECRET = "n3tw0rk-bound-community"


@pytest.fixture
def bound(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    seed_inventory(engine)
    monkeypatch.setenv("KTG_TEST_COMMUNITY", SECRET)
    with session_scope(engine) as s:
        s.add(SnmpProfile(name="bound", version="2c", community_env="KTG_TEST_COMMUNITY",
                          allowed_networks=["127.0.0.0/8"]))
        s.flush()
        s.execute(update(Device).values(snmp_profile="bound"))
        s.execute(update(Device).where(Device.id == "rtr-kemiren").values(address="10.9.9.9"))
    return engine


async def test_poll_outside_the_profiles_networks_is_refused(
    bound: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeCollector()
    sched = Scheduler(bound, {"snmp": fake},  # type: ignore[dict-item]
                      policy=StorePolicy(down_after_failures=2, stale_after_intervals=3,
                                         default_interval_seconds=0.1),
                      default_interval=0.1, deadline_seconds=0.3, flush_seconds=0.05,
                      jitter=False)
    caplog.set_level(logging.WARNING)
    results = {o.device_id: o for o in await sched.run_once()}
    assert results["olt-glagah"].ok  # inside 127.0.0.0/8: polled with its secret
    refused = results["rtr-kemiren"]
    assert not refused.ok
    assert "outside the profile's allowed_networks" in (refused.reason or "")
    assert "rtr-kemiren" not in {t.device_id for t in fake.targets}  # never contacted
    assert "10.9.9.9 is outside the allowed_networks of profile bound" in caplog.text
    assert SECRET not in caplog.text and SECRET not in (refused.reason or "")
