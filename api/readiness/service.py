"""Glue between the app and the readiness board: the policy and the cache per app, the
readiness metric, and the snapshot of a past date (read from the verdict history)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.models import VerdictChange
from api.readiness.board import Board, BoardCache, board_cache
from api.readiness.policy import Policy, cached_policy, load_policy
from core.settings import Settings
from core.timeutil import WIB, as_utc
from inventory.db import get_engine

logger = logging.getLogger(__name__)


def install_readiness(app: FastAPI, settings: Settings) -> None:
    """Load the policy (refusing a bad file now, at start) and attach the board cache."""
    if getattr(app.state, "readiness_cache", None) is not None:
        return
    policy = load_policy(settings.policy_path)
    app.state.readiness_policy = policy
    cache = board_cache(
        app.state.engine,
        policy,
        ttl=settings.readiness_cache_seconds,
        prometheus_url=settings.prometheus_url,
    )
    app.state.readiness_cache = cache

    async def warm(_app: FastAPI) -> None:
        cache.warm()

    app.state.startup_hooks.append(warm)


def board_of(request: Request) -> Board:
    """The app's current readiness board (may compute it in this thread)."""
    cache: BoardCache = request.app.state.readiness_cache
    return cache.get()


async def get_board(request: Request) -> Board:
    """The app's current readiness board, as a dependency: served from the cache on the
    event loop, computed in the thread pool only when there is none yet."""
    cache: BoardCache = request.app.state.readiness_cache
    board = cache.peek()
    if board is not None:
        return board
    return await run_in_threadpool(cache.get)


def village_qualified_samples(
    session: Session, settings: Settings
) -> list[tuple[dict[str, str], float]]:
    """Samples of ``kentongan_village_qualified``: 1 when the village qualifies, else 0
    (labels ``village``, ``district``, ``verdict``)."""
    policy = cached_policy(settings.policy_path)
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else get_engine(settings.database_url)
    board = board_cache(
        engine,
        policy,
        ttl=settings.readiness_cache_seconds,  # type: ignore[arg-type]
        prometheus_url=settings.prometheus_url,
    ).get()
    return [
        (
            {
                "village": row.code,
                "district": row.inputs.district_code,
                "verdict": row.verdict.status.value,
            },
            1.0 if row.verdict.status.value == "qualified" else 0.0,
        )
        for row in board.villages
    ]


def end_of_day_wib(day: date) -> datetime:
    """The last instant of ``day`` in WIB, as UTC."""
    start_next = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=WIB)
    return as_utc(start_next - timedelta(microseconds=1))


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """A village's verdict as it stood at a past instant."""

    village_code: str
    district_code: str
    verdict: str
    since: datetime
    failing: list[str]
    policy_version: str | None


def snapshot(session: Session, at: datetime, *, district: str | None = None) -> list[SnapshotRow]:
    """Every village's verdict as recorded at ``at`` (from the verdict history): the checks
    failing as of that instant, and since when the verdict had held."""
    at = as_utc(at)
    latest = select(func.max(VerdictChange.id).label("id")).where(VerdictChange.at <= at)
    changed = latest.where((VerdictChange.previous.is_(None))
                           | (VerdictChange.previous != VerdictChange.verdict))
    if district:
        latest = latest.where(VerdictChange.district_code == district)
        changed = changed.where(VerdictChange.district_code == district)
    sub = latest.group_by(VerdictChange.village_code).subquery()
    since_sub = changed.group_by(VerdictChange.village_code).subquery()
    since = {
        code: as_utc(when)
        for code, when in session.execute(
            select(VerdictChange.village_code, VerdictChange.at)
            .join(since_sub, since_sub.c.id == VerdictChange.id)
        )
    }
    rows = session.scalars(
        select(VerdictChange)
        .join(sub, sub.c.id == VerdictChange.id)
        .order_by(VerdictChange.village_code)
    )
    return [
        SnapshotRow(
            r.village_code,
            r.district_code,
            r.verdict,
            since.get(r.village_code, as_utc(r.at)),
            list(r.failing or []),
            r.policy_version,
        )
        for r in rows
    ]


def village_history(session: Session, village_code: str) -> list[dict[str, Any]]:
    """A village's verdict changes, newest first."""
    rows = session.scalars(
        select(VerdictChange)
        .where(VerdictChange.village_code == village_code)
        .order_by(VerdictChange.id.desc())
        .limit(500)
    )
    return [
        {
            "at": as_utc(r.at),
            "verdict": r.verdict,
            "previous": r.previous,
            "failing": list(r.failing or []),
            "policy_version": r.policy_version,
        }
        for r in rows
    ]


__all__ = ["Policy", "get_board", "install_readiness", "village_qualified_samples"]
