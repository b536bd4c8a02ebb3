"""The readiness board: every village's verdict, summaries, cohorts, what-if and history.

Computing the board reads the inputs in a few bulk queries and runs the pure engine over
every village. :class:`BoardCache` keeps the computed board for ``ttl`` seconds and, once a
board exists, refreshes it in the background (callers get the previous board meanwhile),
so reads stay fast at national scale. Verdict changes are recorded in
``readiness_history`` when a board is computed.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from api.models import VerdictChange
from api.readiness.engine import (
    Status,
    Verdict,
    VerdictStatus,
    VillageInputs,
    evaluate,
    what_if,
)
from api.readiness.inputs import LoadedInputs, RegionInfo, load_inputs
from api.readiness.policy import CHECK_IDS, Cohort, Policy
from core.timeutil import as_utc, utcnow
from inventory.db import session_scope

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class VillageRow:
    """One village on the board: its facts, its verdict and since when it holds."""

    inputs: VillageInputs
    verdict: Verdict
    since: datetime | None
    uplink_medium: str | None

    @property
    def code(self) -> str:
        """Kemendagri code of the village."""
        return self.inputs.village_code


@dataclass(slots=True)
class Counts:
    """Villages per verdict."""

    total: int = 0
    qualified: int = 0
    not_qualified: int = 0
    unknown: int = 0

    def add(self, status: VerdictStatus) -> None:
        """Count one village."""
        self.total += 1
        setattr(self, status.value, getattr(self, status.value) + 1)

    @property
    def percent_qualified(self) -> float:
        """Share of qualified villages, in percent (0 when there are none)."""
        return round(100.0 * self.qualified / self.total, 1) if self.total else 0.0


@dataclass(slots=True)
class CheckTally:
    """How many villages a check does not pass for, by status."""

    check: str
    fail: int = 0
    unknown: int = 0
    blocked_upstream: int = 0

    @property
    def total(self) -> int:
        """Villages for which this (mandatory) check did not pass."""
        return self.fail + self.unknown + self.blocked_upstream


@dataclass(slots=True)
class CohortProgress:
    """A cohort's members and how far they are from the target."""

    cohort: Cohort
    counts: Counts
    needed: int
    days_left: int
    on_track: bool


@dataclass(slots=True)
class Board:
    """Every village's verdict and the aggregates the API and dashboard show."""

    computed_at: datetime
    policy: Policy
    villages: list[VillageRow]
    districts: dict[str, RegionInfo]
    by_code: dict[str, VillageRow] = field(default_factory=dict)
    by_district: dict[str, list[VillageRow]] = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)
    district_counts: dict[str, Counts] = field(default_factory=dict)
    tallies: dict[str, CheckTally] = field(default_factory=dict)
    district_tallies: dict[str, dict[str, CheckTally]] = field(default_factory=dict)
    what_if: dict[str, int] = field(default_factory=dict)
    compute_seconds: float = 0.0
    memo: dict[str, object] = field(default_factory=dict)

    def index(self) -> None:
        """Build the lookups and aggregates (called once after construction)."""
        for row in self.villages:
            self.by_code[row.code] = row
            dcode = row.inputs.district_code
            self.by_district.setdefault(dcode, []).append(row)
            self.counts.add(row.verdict.status)
            self.district_counts.setdefault(dcode, Counts()).add(row.verdict.status)
            dt = self.district_tallies.setdefault(dcode, {})
            for check in row.verdict.checks:
                if not check.mandatory or check.status is Status.PASS:
                    continue
                for tallies in (self.tallies, dt):
                    tally = tallies.setdefault(check.id, CheckTally(check.id))
                    setattr(tally, check.status.value, getattr(tally, check.status.value) + 1)
        self.what_if = what_if(r.verdict for r in self.villages)

    def top_failing(self, district: str | None = None, *, limit: int = 5) -> list[CheckTally]:
        """The checks most villages do not pass (fails first), for one district or all."""
        tallies = self.tallies if district is None else self.district_tallies.get(district, {})
        ranked = sorted(tallies.values(), key=lambda t: (-t.fail, -t.total, t.check))
        return ranked[:limit]

    def cohort_members(self, cohort: Cohort) -> list[VillageRow]:
        """Villages selected by a cohort's selector."""
        sel = cohort.selector
        rows = []
        for row in self.villages:
            v = row.inputs
            if sel.uplink_medium is not None and row.uplink_medium != sel.uplink_medium:
                continue
            if sel.districts is not None and v.district_code not in sel.districts:
                continue
            if sel.villages is not None and v.village_code not in sel.villages:
                continue
            if sel.site_kinds is not None and v.site_kind not in sel.site_kinds:
                continue
            rows.append(row)
        return rows

    def cohorts(self, *, today: date | None = None) -> list[CohortProgress]:
        """Progress of every cohort in the policy against its target."""
        today = today or self.computed_at.date()
        out = []
        for cohort in self.policy.cohorts:
            counts = Counts()
            for row in self.cohort_members(cohort):
                counts.add(row.verdict.status)
            target = math.ceil(cohort.target_percent * counts.total / 100.0)
            needed = max(0, target - counts.qualified)
            out.append(CohortProgress(
                cohort=cohort, counts=counts, needed=needed,
                days_left=(cohort.target_date - today).days,
                on_track=needed == 0,
            ))
        return out


def _latest_history(session: Session) -> dict[str, tuple[str, datetime, list[str]]]:
    """Each village's latest recorded verdict, since when it has held (the latest row that
    changed the verdict), and the checks failing as last recorded."""
    latest = (
        select(func.max(VerdictChange.id).label("id"))
        .group_by(VerdictChange.village_code)
        .subquery()
    )
    changed = (
        select(func.max(VerdictChange.id).label("id"))
        .where((VerdictChange.previous.is_(None))
               | (VerdictChange.previous != VerdictChange.verdict))
        .group_by(VerdictChange.village_code)
        .subquery()
    )
    since = {
        code: as_utc(at)
        for code, at in session.execute(
            select(VerdictChange.village_code, VerdictChange.at)
            .join(changed, changed.c.id == VerdictChange.id)
        )
    }
    return {
        code: (verdict, since.get(code, as_utc(at)), list(failing or []))
        for code, verdict, at, failing in session.execute(
            select(VerdictChange.village_code, VerdictChange.verdict, VerdictChange.at,
                   VerdictChange.failing)
            .join(latest, latest.c.id == VerdictChange.id)
        )
    }


def compute_board(
    session: Session,
    policy: Policy,
    *,
    now: datetime | None = None,
    record: bool = True,
    prometheus_url: str | None = None,
) -> Board:
    """Evaluate every village; when ``record``, write the verdicts that changed to the
    history (committing the session)."""
    gc_was_enabled = gc.isenabled()
    # Millions of short-lived objects: cyclic GC passes would cost more than the work.
    gc.disable()
    try:
        return _compute_board(session, policy, now=now, record=record,
                              prometheus_url=prometheus_url)
    finally:
        if gc_was_enabled:
            gc.enable()


def _compute_board(
    session: Session,
    policy: Policy,
    *,
    now: datetime | None,
    record: bool,
    prometheus_url: str | None = None,
) -> Board:
    started = time.perf_counter()
    now = as_utc(now or utcnow())
    loaded: LoadedInputs = load_inputs(session, policy, now=now, prometheus_url=prometheus_url)
    previous = _latest_history(session)
    rows: list[VillageRow] = []
    changes: list[dict[str, object]] = []
    for v in loaded.villages:
        verdict = evaluate(v, policy, now=now)
        before = previous.get(v.village_code)
        since = before[1] if before is not None and before[0] == verdict.status else now
        failing = list(verdict.failing)
        # A row when the verdict changes, and also when only the failing checks do: a
        # snapshot of a past date lists what failed then, not at the first evaluation.
        if before is None or before[0] != verdict.status or before[2] != failing:
            changes.append({
                "village_code": v.village_code, "district_code": v.district_code,
                "site_id": v.site_id, "at": now, "verdict": verdict.status.value,
                "previous": before[0] if before else None, "failing": failing,
                "policy_version": f"{policy.version}/{policy.digest}",
            })
        medium = loaded.uplink_medium.get(v.uplink.id) if v.uplink is not None else None
        rows.append(VillageRow(inputs=v, verdict=verdict, since=since, uplink_medium=medium))
    if record and changes:
        session.execute(insert(VerdictChange), changes)
        session.commit()
        logger.info("readiness: %d village verdict(s) changed", len(changes))
    board = Board(computed_at=now, policy=policy, villages=rows, districts=loaded.districts)
    board.index()
    board.compute_seconds = time.perf_counter() - started
    logger.debug("readiness board: %d villages in %.3f s", len(rows), board.compute_seconds)
    return board


class BoardCache:
    """The computed board for ``ttl`` seconds; refreshed in the background once one exists.

    ``ttl <= 0`` recomputes on every call (tests).
    """

    def __init__(
        self, engine: Engine, policy: Policy, *, ttl: float, prometheus_url: str | None = None
    ) -> None:
        self.prometheus_url = prometheus_url
        self.engine = engine
        self.policy = policy
        self.ttl = ttl
        self._board: Board | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._refreshing = False

    def _compute(self) -> Board:
        with session_scope(self.engine) as session:
            return compute_board(session, self.policy, prometheus_url=self.prometheus_url)

    def _refresh(self) -> None:
        try:
            board = self._compute()
            with self._lock:
                self._board, self._at = board, time.monotonic()
        except Exception:
            logger.exception("readiness: background refresh failed")
        finally:
            self._refreshing = False

    def warm(self) -> None:
        """Compute the first board in a background thread (at start-up)."""
        if self.ttl > 0 and self._board is None:
            threading.Thread(target=self.get, name="readiness-warm", daemon=True).start()

    def invalidate(self) -> None:
        """Forget the board: the next read recomputes it (after an inventory write)."""
        with self._lock:
            self._board = None

    def peek(self) -> Board | None:
        """The cached board without ever computing in the caller's thread (None when there
        is none yet, or caching is off); starts a background refresh when it is old."""
        if self.ttl <= 0 or self._board is None:
            return None
        return self.get()

    def get(self) -> Board:
        """The current board (possibly up to ``ttl`` seconds old, or older while a
        background refresh runs). A board that took long to compute is kept longer (at
        least 5 times its computation time), so refreshing never hogs the process."""
        if self.ttl <= 0:
            return self._compute()
        board = self._board
        if board is not None:
            keep = max(self.ttl, 5 * board.compute_seconds)
            if time.monotonic() - self._at > keep and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="readiness-refresh",
                                 daemon=True).start()
            return board
        with self._lock:
            if self._board is None:
                self._board, self._at = self._compute(), time.monotonic()
            return self._board


_caches: dict[tuple[str, str, float, str], BoardCache] = {}
_caches_lock = threading.Lock()


def board_cache(
    engine: Engine, policy: Policy, *, ttl: float, prometheus_url: str | None = None
) -> BoardCache:
    """The process-wide cache for this database, policy and availability source."""
    key = (engine.url.render_as_string(hide_password=True), policy.digest, ttl,
           prometheus_url or "")
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None or cache.engine is not engine:
            cache = _caches[key] = BoardCache(engine, policy, ttl=ttl,
                                              prometheus_url=prometheus_url)
        return cache


def invalidate_all() -> None:
    """Forget every cached board (after a write)."""
    with _caches_lock:
        for cache in _caches.values():
            cache.invalidate()


__all__ = ["CHECK_IDS", "Board", "BoardCache", "Counts", "compute_board"]
