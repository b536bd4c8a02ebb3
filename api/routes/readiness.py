"""Routes: village readiness (verdicts with evidence, summaries, cohorts, what-if, CSV,
history and snapshots). Readable by anyone when ``settings.public_readiness``, else by a
viewer token or above."""

from __future__ import annotations

import io
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, Field

from api.auth import ReaderDep
from api.deps import SessionDep
from api.params import InputDate, RegionCodePath, text_query
from api.readiness.board import Board, CheckTally, Counts, VillageRow
from api.readiness.engine import CheckResult, Reason, Status, VerdictStatus
from api.readiness.fields import UtcDateTime
from api.readiness.policy import CHECK_IDS, GROUPS
from api.readiness.service import (
    end_of_day_wib,
    get_board,
    install_readiness,
    snapshot,
    village_history,
)
from core.csvcells import SafeWriter
from core.timeutil import format_wib
from inventory.choices import SiteKind

router = APIRouter(prefix="/api/v1", tags=["readiness"])

CheckId = StrEnum("CheckId", {c.replace(".", "__"): c for c in CHECK_IDS})  # type: ignore[misc]
BoardDep = Annotated[Board, Depends(get_board)]
DistrictCode = Annotated[str, Query(max_length=16, pattern=r"^[0-9.]+$",
                                    description="Kemendagri code of a kecamatan, e.g. 35.10.15")]


class ReasonOut(BaseModel):
    """A reason in English and Bahasa Indonesia."""

    en: str
    id: str


class CheckOut(BaseModel):
    """One check of a village with its evidence."""

    id: str
    group: str
    status: Status
    mandatory: bool
    reason: ReasonOut
    evidence: dict[str, Any]
    blocked_by: str | None = Field(None, description="The upstream link that is down, if any")


class VillageOut(BaseModel):
    """A village's verdict in brief."""

    code: str
    name: str
    district_code: str
    district_name: str
    site_id: str | None
    site_name: str | None
    site_kind: str | None
    uplink_medium: str | None
    verdict: VerdictStatus
    since: UtcDateTime | None = Field(None, description="Since when the village has this verdict")
    failing: list[str] = Field(description="Mandatory checks that did not pass")
    blocking_reasons: list[ReasonOut]


class VillageDetail(VillageOut):
    """A village with every check and its evidence."""

    evaluated_at: UtcDateTime
    policy_version: str
    lat: float | None
    lon: float | None
    checks: list[CheckOut]


class VillagePage(BaseModel):
    """A page of villages."""

    total: int
    offset: int
    limit: int
    items: list[VillageOut]


class CountsOut(BaseModel):
    """Villages per verdict."""

    total: int
    qualified: int
    not_qualified: int
    unknown: int
    percent_qualified: float


class TallyOut(BaseModel):
    """How many villages a check does not pass for."""

    check: str
    fail: int
    unknown: int
    blocked_upstream: int


class DistrictSummary(BaseModel):
    """A kecamatan: counts per verdict and its most common failing checks."""

    code: str
    name: str
    lat: float | None
    lon: float | None
    counts: CountsOut
    top_failing: list[TallyOut]


class WhatIfOut(BaseModel):
    """If this class of problem were fixed everywhere, how many more villages qualify."""

    fix: str = Field(description="A check id, or group:<name> for a whole group")
    would_qualify: int
    qualified_after: int
    percent_after: float


class RegencySummary(BaseModel):
    """The whole regency (or country): counts, districts, failing checks, what-if."""

    evaluated_at: UtcDateTime
    evaluated_at_wib: str
    policy_version: str
    counts: CountsOut
    top_failing: list[TallyOut]
    districts: list[DistrictSummary]
    what_if: list[WhatIfOut]


class CohortOut(BaseModel):
    """A programme cohort's progress against its target."""

    id: str
    name: str
    description: str | None
    target_percent: float
    target_date: date
    counts: CountsOut
    needed: int = Field(description="More qualified villages needed to meet the target")
    days_left: int
    on_track: bool


class HistoryOut(BaseModel):
    """A change of a village's verdict."""

    at: UtcDateTime
    verdict: VerdictStatus
    previous: VerdictStatus | None
    failing: list[str]
    policy_version: str | None


class SnapshotRowOut(BaseModel):
    """A village's verdict as it stood at the snapshot time."""

    village_code: str
    district_code: str
    verdict: VerdictStatus
    since: UtcDateTime
    failing: list[str]
    policy_version: str | None


class SnapshotOut(BaseModel):
    """Readiness as recorded at the end of a past day (WIB)."""

    at: UtcDateTime
    items: list[SnapshotRowOut]


def _reason(r: Reason) -> ReasonOut:
    return ReasonOut(en=r.en, id=r.id)


def _counts(c: Counts) -> CountsOut:
    return CountsOut(total=c.total, qualified=c.qualified, not_qualified=c.not_qualified,
                     unknown=c.unknown, percent_qualified=c.percent_qualified)


def _tally(t: CheckTally) -> TallyOut:
    return TallyOut(check=t.check, fail=t.fail, unknown=t.unknown,
                    blocked_upstream=t.blocked_upstream)


def _village(row: VillageRow) -> VillageOut:
    v, verdict = row.inputs, row.verdict
    return VillageOut(
        code=v.village_code, name=v.village_name, district_code=v.district_code,
        district_name=v.district_name, site_id=v.site_id, site_name=v.site_name,
        site_kind=v.site_kind, uplink_medium=row.uplink_medium, verdict=verdict.status,
        since=row.since, failing=list(verdict.failing),
        blocking_reasons=[_reason(r) for r in verdict.blocking_reasons],
    )


def _check(c: CheckResult) -> CheckOut:
    return CheckOut(id=c.id, group=c.group, status=c.status, mandatory=c.mandatory,
                    reason=_reason(c.reason), evidence=c.evidence, blocked_by=c.blocked_by)


def village_detail(board: Board, row: VillageRow) -> VillageDetail:
    """A village with its checks (also used by the dashboard)."""
    return VillageDetail(
        **_village(row).model_dump(),
        evaluated_at=row.verdict.evaluated_at,
        policy_version=f"{board.policy.version}/{board.policy.digest}",
        lat=row.inputs.lat, lon=row.inputs.lon,
        checks=[_check(c) for c in row.verdict.checks],
    )


def district_summary(board: Board, code: str) -> DistrictSummary:
    """Counts and top failing checks of one kecamatan."""
    info = board.districts.get(code)
    rows = board.by_district.get(code, [])
    name = info.name if info else (rows[0].inputs.district_name if rows else code)
    return DistrictSummary(
        code=code, name=name, lat=info.lat if info else None, lon=info.lon if info else None,
        counts=_counts(board.district_counts.get(code, Counts())),
        top_failing=[_tally(t) for t in board.top_failing(code)],
    )


def filter_villages(
    board: Board,
    *,
    district: str | None = None,
    site_kind: str | None = None,
    verdict: str | None = None,
    failing_check: str | None = None,
    q: str | None = None,
) -> list[VillageRow]:
    """Villages matching every given filter, in code order."""
    rows = board.by_district.get(district, []) if district else board.villages
    needle = q.lower() if q else None
    out = []
    for row in rows:
        if site_kind and row.inputs.site_kind != site_kind:
            continue
        if verdict and row.verdict.status != verdict:
            continue
        if failing_check and failing_check not in row.verdict.failing:
            continue
        if needle and needle not in row.inputs.village_name.lower() \
                and not row.code.startswith(needle):
            continue
        out.append(row)
    return out


def regency_summary(board: Board) -> RegencySummary:
    """The regency board (computed once per board)."""
    cached = board.memo.get("regency")
    if isinstance(cached, RegencySummary):
        return cached
    total = board.counts.total
    what_if = []
    for fix in [*CHECK_IDS, *(f"group:{g}" for g in GROUPS)]:
        gain = board.what_if.get(fix, 0)
        after = board.counts.qualified + gain
        what_if.append(WhatIfOut(fix=fix, would_qualify=gain, qualified_after=after,
                                 percent_after=round(100.0 * after / total, 1) if total else 0.0))
    what_if.sort(key=lambda w: (-w.would_qualify, w.fix))
    summary = RegencySummary(
        evaluated_at=board.computed_at, evaluated_at_wib=format_wib(board.computed_at),
        policy_version=f"{board.policy.version}/{board.policy.digest}",
        counts=_counts(board.counts),
        top_failing=[_tally(t) for t in board.top_failing(limit=len(CHECK_IDS))],
        districts=[district_summary(board, code) for code in sorted(board.by_district)],
        what_if=what_if,
    )
    board.memo["regency"] = summary
    return summary


def _json_once(board: Board, key: str, build: Any) -> Response:
    """A JSON response serialised once per board (the big summaries at national scale)."""
    body = board.memo.get(key)
    if not isinstance(body, bytes):
        body = build().encode()
        board.memo[key] = body
    return Response(body, media_type="application/json")


@router.get("/readiness", response_model=RegencySummary)
@router.get("/readiness/summary", response_model=RegencySummary)
async def get_regency(reader: ReaderDep, board: BoardDep) -> Response:
    """The regency summary: counts per verdict, every kecamatan, the most common failing
    checks and the what-if view."""
    return _json_once(board, "regency.json", lambda: regency_summary(board).model_dump_json())


@router.get("/readiness/villages", response_model=VillagePage)
async def list_villages(
    reader: ReaderDep,
    board: BoardDep,
    district: DistrictCode | None = None,
    site_kind: SiteKind | None = None,
    verdict: VerdictStatus | None = None,
    failing_check: Annotated[CheckId | None, Query(description="A mandatory check that did "
                                                   "not pass (fail, unknown or blocked)")] = None,
    q: Annotated[str | None, text_query(64, "Name or code prefix")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VillagePage:
    """Villages with their verdicts, filtered and paginated (in Kemendagri code order)."""
    rows = filter_villages(
        board, district=district, site_kind=site_kind.value if site_kind else None,
        verdict=verdict.value if verdict else None,
        failing_check=failing_check.value if failing_check else None, q=q,
    )
    return VillagePage(total=len(rows), offset=offset, limit=limit,
                       items=[_village(r) for r in rows[offset:offset + limit]])


@router.get("/readiness/villages/{code}", response_model=VillageDetail,
            responses={404: {"description": "No such village"}})
async def get_village(code: RegionCodePath, reader: ReaderDep, board: BoardDep) -> VillageDetail:
    """One village with every check, its evidence and the blocking reasons."""
    row = board.by_code.get(code)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no village with code {code!r}")
    return village_detail(board, row)


@router.get("/readiness/villages/{code}/history", response_model=list[HistoryOut],
            responses={404: {"description": "No such village"}})
def get_village_history(code: RegionCodePath, reader: ReaderDep, board: BoardDep,
                        session: SessionDep) -> list[HistoryOut]:
    """When the village became qualified or lost it (newest first)."""
    if code not in board.by_code:
        raise HTTPException(status_code=404, detail=f"no village with code {code!r}")
    return [HistoryOut(**h) for h in village_history(session, code)]


@router.get("/readiness/districts", response_model=list[DistrictSummary])
async def list_districts(reader: ReaderDep, board: BoardDep) -> Response:
    """Every kecamatan: counts per verdict and most common failing checks."""
    return _json_once(board, "districts.json", lambda: "[" + ",".join(
        d.model_dump_json() for d in regency_summary(board).districts) + "]")


@router.get("/readiness/districts/{code}", response_model=DistrictSummary,
            responses={404: {"description": "No such kecamatan"}})
async def get_district(code: RegionCodePath, reader: ReaderDep, board: BoardDep) -> DistrictSummary:
    """One kecamatan: counts per verdict and most common failing checks."""
    if code not in board.by_district:
        raise HTTPException(status_code=404, detail=f"no kecamatan with code {code!r}")
    return district_summary(board, code)


@router.get("/readiness/what-if", response_model=list[WhatIfOut])
async def get_what_if(reader: ReaderDep, board: BoardDep) -> list[WhatIfOut]:
    """How many more villages would qualify if one class of problem were fixed everywhere
    (a single check, or a whole group), best first."""
    return list(regency_summary(board).what_if)


@router.get("/readiness/cohorts", response_model=list[CohortOut])
async def list_cohorts(reader: ReaderDep, board: BoardDep) -> list[CohortOut]:
    """Programme cohorts (from the policy) and their progress against the targets."""
    return cohorts_out(board)


def cohorts_out(board: Board) -> list[CohortOut]:
    """Cohort progress as API models (also used by the dashboard)."""
    return [
        CohortOut(id=p.cohort.id, name=p.cohort.name, description=p.cohort.description,
                  target_percent=p.cohort.target_percent, target_date=p.cohort.target_date,
                  counts=_counts(p.counts), needed=p.needed, days_left=p.days_left,
                  on_track=p.on_track)
        for p in board.cohorts()
    ]


CSV_COLUMNS = ("village_code", "village_name", "district_code", "district_name", "site_id",
               "verdict", "since_wib", "failing_checks", "blocking_reasons_en",
               "blocking_reasons_id")


def readiness_csv(board: Board, rows: list[VillageRow]) -> str:
    """The CSV export of ``rows`` (one line per village)."""
    buf = io.StringIO()
    writer = SafeWriter(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        v, verdict = row.inputs, row.verdict
        writer.writerow([
            v.village_code, v.village_name, v.district_code, v.district_name, v.site_id or "",
            verdict.status.value, format_wib(row.since), " ".join(verdict.failing),
            " | ".join(r.en for r in verdict.blocking_reasons),
            " | ".join(r.id for r in verdict.blocking_reasons),
        ])
    return buf.getvalue()


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "One line per village"}
}


@router.get("/readiness.csv", response_class=Response, responses=_CSV_RESPONSE)
async def get_readiness_csv(
    reader: ReaderDep,
    board: BoardDep,
    district: DistrictCode | None = None,
    verdict: VerdictStatus | None = None,
    failing_check: CheckId | None = None,
) -> Response:
    """Readiness as CSV (filter by kecamatan, verdict or failing check)."""
    rows = filter_villages(board, district=district, verdict=verdict.value if verdict else None,
                           failing_check=failing_check.value if failing_check else None)
    name = f"readiness-{district or 'all'}.csv"
    return Response(readiness_csv(board, rows), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/readiness/snapshot", response_model=SnapshotOut)
def get_snapshot(
    reader: ReaderDep,
    session: SessionDep,
    on: Annotated[InputDate, Query(description="The day (WIB); the snapshot is its end")],
    district: DistrictCode | None = None,
) -> SnapshotOut:
    """Every village's verdict as recorded at the end of a past day (evidence export)."""
    at = end_of_day_wib(on)
    return SnapshotOut(at=at, items=[
        SnapshotRowOut(village_code=r.village_code, district_code=r.district_code,
                       verdict=VerdictStatus(r.verdict), since=r.since, failing=r.failing,
                       policy_version=r.policy_version)
        for r in snapshot(session, at, district=district)
    ])


@router.get("/readiness/snapshot.csv", response_class=Response, responses=_CSV_RESPONSE)
def get_snapshot_csv(
    reader: ReaderDep,
    session: SessionDep,
    on: Annotated[InputDate, Query(description="The day (WIB); the snapshot is its end")],
    district: DistrictCode | None = None,
) -> Response:
    """The snapshot of a past day as CSV."""
    buf = io.StringIO()
    writer = SafeWriter(buf, lineterminator="\n")
    writer.writerow(["village_code", "district_code", "verdict", "since_wib", "failing_checks",
                     "policy_version"])
    for r in snapshot(session, end_of_day_wib(on), district=district):
        writer.writerow([r.village_code, r.district_code, r.verdict, format_wib(r.since),
                         " ".join(r.failing), r.policy_version or ""])
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="readiness-snapshot-{on}.csv"'})


def install(app: FastAPI) -> None:
    """Load the policy (a bad one is refused here, at start) and add the routes."""
    install_readiness(app, app.state.settings)
    app.include_router(router)
