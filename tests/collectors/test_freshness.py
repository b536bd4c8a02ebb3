"""Freshness: every poll confirms state, so a steady fleet never goes stale.

The 15-minute collapse (issue 10): links whose state did not change were never rewritten,
so their last update aged past readiness's 15 minutes and "Uplink up" turned unknown for
a fleet that was up all along. Driven through the real write path with explicit
timestamps (a minute per poll), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from api.readiness.engine import Status, check_uplink_up, evaluate
from api.readiness.inputs import load_inputs
from api.readiness.policy import load_policy
from collectors.metrics import StoreCollector
from collectors.store import (
    StorePolicy,
    device_states,
    interface_states,
    is_fresh,
    link_states,
    record_observations,
)
from inventory.db import make_engine, session_scope
from kentongan.app import upgrade
from tests.collectors.conftest import T0, iface, kiosk_obs, ok, seed_inventory
from tests.support.db import postgres_available, postgres_schema_url

POLICY = StorePolicy(down_after_failures=3, stale_after_intervals=3.0,
                     default_interval_seconds=60.0)
MIN = timedelta(minutes=1)


@pytest.fixture
def db(any_engine: Engine) -> Engine:
    seed_inventory(any_engine)
    return any_engine


def _steady_poll(engine: Engine, at: datetime) -> None:
    obs = [
        ok("olt-glagah", interfaces=[iface(3, "gpon0/3", up=True)]),
        ok("rtr-kemiren", interfaces=[iface(1, "ether1", up=True)]),
        kiosk_obs("kiosk-kemiren-1", "2.5.0"),
    ]
    with session_scope(engine) as s:
        record_observations(s, obs, policy=POLICY, now=at)


def test_a_steady_fleet_never_goes_stale(db: Engine) -> None:
    """25 polls a minute apart: past the 3-interval store bound and past readiness's
    15 minutes, every device, interface and link stays fresh and "Uplink up" passes."""
    readiness = load_policy()
    for k in range(26):
        at = T0 + k * MIN
        _steady_poll(db, at)
        with session_scope(db) as s:
            links = link_states(s, policy=POLICY, now=at + 30 * timedelta(seconds=1))
            devices = device_states(s, policy=POLICY, now=at + 30 * timedelta(seconds=1))
        assert [(v.status, v.stale) for v in links] == [("up", False)], k
        assert {(v.status, v.stale) for v in devices} == {("up", False)}, k
    end = T0 + 25 * MIN
    with session_scope(db) as s:
        (link,) = link_states(s, policy=POLICY, now=end)
        ifaces = interface_states(s)
        loaded = load_inputs(s, readiness, now=end + timedelta(seconds=30))
    # since = last change (the first poll); checked_at = last confirmation (the last poll)
    assert link.since == T0 and link.checked_at == end
    assert {i.since for i in ifaces} == {T0} and {i.checked_at for i in ifaces} == {end}
    (kemiren,) = [v for v in loaded.villages if v.village_code == "35.10.15.2004"]
    result = check_uplink_up(kemiren, readiness, end + timedelta(seconds=30))
    assert result.status == Status.PASS, result.explain
    verdict = evaluate(kemiren, readiness, now=end + timedelta(seconds=30))
    assert next(c for c in verdict.checks if c.id == "network.uplink_up").status == Status.PASS

    text = StoreCollector(db, clock=lambda: end + timedelta(seconds=30)).render().decode()
    assert 'kentongan_link_up{link="fo-glagah-kemiren"' in text


def test_a_stopped_poller_does_go_stale(db: Engine) -> None:
    """The other side of the rule: with no poll for longer than the bound, the link reads
    unknown, /metrics drops its sample and readiness says unknown, never up."""
    _steady_poll(db, T0)
    late = T0 + 16 * MIN
    readiness = load_policy()
    with session_scope(db) as s:
        (link,) = link_states(s, policy=POLICY, now=late)
        loaded = load_inputs(s, readiness, now=late)
    assert link.status == "unknown" and link.stale
    (kemiren,) = [v for v in loaded.villages if v.village_code == "35.10.15.2004"]
    assert check_uplink_up(kemiren, readiness, late).status == Status.UNKNOWN
    text = StoreCollector(db, clock=lambda: late).render().decode()
    assert "kentongan_link_up{" not in text
    assert 'kentongan_device_up{device="rtr-kemiren"' not in text


def test_the_freshness_rule() -> None:
    policy = StorePolicy(stale_after_intervals=3.0, default_interval_seconds=60.0)
    assert is_fresh(T0, now=T0 + 3 * MIN, policy=policy)
    assert not is_fresh(T0, now=T0 + 3 * MIN + timedelta(seconds=1), policy=policy)
    assert is_fresh(T0, now=T0 + 29 * MIN, interval_seconds=600, policy=policy)
    assert not is_fresh(T0, now=T0 + 16 * MIN, policy=policy, max_age_seconds=900)
    assert not is_fresh(None, now=T0, policy=policy)


def _old_schema(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        upgrade(engine, "0001_collectors")
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_migration_backfills_checked_at(backend: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    """Rows written before the freshness revision get checked_at = their last write."""
    if backend == "postgres":
        request.getfixturevalue("postgres_ready")
        assert postgres_available() is None
        ctx = postgres_schema_url()
        url = ctx.__enter__()
        request.addfinalizer(lambda: ctx.__exit__(None, None, None))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    for engine in _old_schema(url):
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO device_states (device_id, status, observed_status,"
                " consecutive_failures, polls_total, errors_total, timeouts_total,"
                " last_poll_at) VALUES ('d1', 'up', 'up', 0, 1, 0, 0, :at)"), {"at": T0})
            conn.execute(sa.text(
                "INSERT INTO link_states (link_id, status, updated_at) VALUES"
                " ('l1', 'up', :at)"), {"at": T0})
        upgrade(engine)
        with engine.connect() as conn:
            dev = conn.execute(sa.text("SELECT checked_at FROM device_states")).scalar_one()
            lnk = conn.execute(sa.text("SELECT checked_at FROM link_states")).scalar_one()
        for value in (dev, lnk):
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            assert value is not None and value.replace(tzinfo=None) == T0.replace(tzinfo=None)


def test_a_poller_restart_does_not_turn_a_steady_fleet_unknown(db: Engine) -> None:
    """The server was down for 10 minutes (past the 3-interval bound): a poller that just
    started judges the old confirmations from its own start, so its first recompute records
    no ``up -> unknown``; the same recompute without that start time does."""
    import dataclasses

    from collectors.store import recompute_states

    _steady_poll(db, T0)
    restarted = T0 + 10 * MIN
    watching = dataclasses.replace(POLICY, watching_since=restarted)
    with session_scope(db) as s:
        changes = recompute_states(s, policy=watching, now=restarted + timedelta(seconds=5))
        s.rollback()
    assert [c for c in changes if c.to_status == "unknown"] == []
    with session_scope(db) as s:
        changes = recompute_states(s, policy=POLICY, now=restarted + timedelta(seconds=5))
        s.rollback()
    assert {c.subject for c in changes if c.to_status == "unknown"} >= {"rtr-kemiren", "olt-glagah"}
    # ... and once a whole bound has passed since the start without a poll, it is stale.
    with session_scope(db) as s:
        changes = recompute_states(s, policy=watching, now=restarted + 4 * MIN)
        s.rollback()
    assert {c.subject for c in changes if c.to_status == "unknown"} >= {"rtr-kemiren"}


def test_the_pollers_own_lag_is_not_staleness() -> None:
    """A state 200 s old at a 60 s interval (bound 180 s) is stale, unless the poller that
    judges it is itself 30 s behind its schedule."""
    checked = T0
    now = T0 + timedelta(seconds=200)
    assert not is_fresh(checked, now=now, interval_seconds=60, policy=POLICY)
    import dataclasses

    late = dataclasses.replace(POLICY, lag_grace_seconds=30)
    assert is_fresh(checked, now=now, interval_seconds=60, policy=late)
    assert not is_fresh(checked, now=now + timedelta(seconds=20), interval_seconds=60,
                        policy=late)
