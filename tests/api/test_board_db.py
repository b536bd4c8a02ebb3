"""The bulk loader and the verdict history on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from api.models import VerdictChange
from api.readiness.board import compute_board
from api.readiness.policy import load_policy
from api.readiness.service import SnapshotRow, end_of_day_wib, snapshot
from core.timeutil import utcnow
from inventory.db import session_scope
from tests.api.conftest import KEMIREN, SCENARIO
from tests.api.fleet import import_banyuwangi, seed_observations


def test_board_history_and_snapshot(any_engine: Engine) -> None:
    now = utcnow()
    with session_scope(any_engine) as session:
        import_banyuwangi(session)
    with session_scope(any_engine) as session:
        seed_observations(session, now=now, scenario=SCENARIO)
    policy = load_policy()
    with session_scope(any_engine) as session:
        board = compute_board(session, policy, now=now)
        assert board.counts.total == 217
        assert board.by_code[KEMIREN].verdict.status.value == "qualified"
        assert board.by_code["35.10.15.2011"].verdict.status.value == "not_qualified"
        avail = next(c for c in board.by_code[KEMIREN].verdict.checks
                     if c.id == "network.availability")
        assert avail.evidence["percent"] == 100.0
        assert session.scalar(select(func.count()).select_from(VerdictChange)) == 217
    later = now + timedelta(minutes=1)
    with session_scope(any_engine) as session:
        compute_board(session, policy, now=later)
        assert session.scalar(select(func.count()).select_from(VerdictChange)) == 217
        rows = snapshot(session, later)
        assert len(rows) == 217
        assert {r.village_code: r.verdict for r in rows}[KEMIREN] == "qualified"
        assert snapshot(session, now - timedelta(days=1)) == []
        assert snapshot(session, end_of_day_wib((now + timedelta(hours=7)).date()))


def test_snapshot_lists_what_failed_as_of_that_date(any_engine: Engine) -> None:
    """The first evaluation runs before any poll (every live check unknown); after the
    polls a village that stays not qualified fails fewer checks. A snapshot of each instant
    lists the checks failing then, and the verdict's since stays the first evaluation."""
    first = utcnow() - timedelta(hours=2)
    with session_scope(any_engine) as session:
        import_banyuwangi(session)
    policy = load_policy()
    with session_scope(any_engine) as session:
        compute_board(session, policy, now=first)
    before = {r.village_code: r for r in snapshot_at(any_engine, first)}
    later = first + timedelta(hours=1)
    with session_scope(any_engine) as session:
        seed_observations(session, now=later, scenario=SCENARIO)
    with session_scope(any_engine) as session:
        compute_board(session, policy, now=later)
    after = {r.village_code: r for r in snapshot_at(any_engine, later)}
    village = "35.10.15.2011"  # not qualified before and after the polls
    assert before[village].verdict == after[village].verdict == "not_qualified"
    assert "network.uplink_up" in before[village].failing
    assert "network.uplink_up" not in after[village].failing
    assert after[village].failing != before[village].failing
    assert after[village].since == before[village].since
    # the earlier instant still reads as it was
    assert {r.village_code: r for r in snapshot_at(any_engine, first)}[village].failing == (
        before[village].failing)


def snapshot_at(engine: Engine, at: datetime) -> list[SnapshotRow]:
    with session_scope(engine) as session:
        return snapshot(session, at)
