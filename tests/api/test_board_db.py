"""The bulk loader and the verdict history on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from api.models import VerdictChange
from api.readiness.board import compute_board
from api.readiness.policy import load_policy
from api.readiness.service import end_of_day_wib, snapshot
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
