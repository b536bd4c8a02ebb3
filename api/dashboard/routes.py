"""The dashboard: server-rendered pages (Jinja2, no JavaScript, no CDN), in Bahasa Indonesia
and English (``?lang=id|en``, remembered in a cookie), times in WIB.

* ``/`` — the regency board by kecamatan, with an SVG map drawn from coordinates;
* ``/kecamatan/{code}`` — a kecamatan's villages and what blocks them;
* ``/desa/{code}`` — a village's checks and evidence, devices, links, incidents, rollouts;
* ``/villages?failing_check=…`` — villages where a check does not pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.auth import ReaderDep
from api.dashboard.i18n import DEFAULT_LANG, LANGS, translator
from api.deps import SessionDep
from api.readiness.board import Board, VillageRow
from api.readiness.inputs import has_table
from api.readiness.service import board_of, village_history
from api.routes.readiness import (
    district_summary,
    filter_villages,
    regency_summary,
    village_detail,
)
from core.timeutil import format_wib
from inventory.models import Device

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
router = APIRouter(include_in_schema=False)

_FILL = {"qualified": "#1a7f37", "not_qualified": "#cf222e", "unknown": "#8c959f"}


@dataclass(frozen=True, slots=True)
class MapPoint:
    """One dot on the SVG map."""

    x: float
    y: float
    r: float
    css: str
    fill: str
    href: str
    label: str
    title: str


@dataclass(frozen=True, slots=True)
class SvgMap:
    """An SVG map: its size and its dots."""

    width: int
    height: int
    points: list[MapPoint]


def project(
    items: list[tuple[float, float, Any]], *, width: int = 600, pad: int = 20
) -> tuple[list[tuple[float, float, Any]], int]:
    """Equirectangular projection of ``(lat, lon, payload)`` into a ``width``-wide box;
    returns the points and the box height."""
    if not items:
        return [], 200
    lats = [i[0] for i in items]
    lons = [i[1] for i in items]
    min_lat, max_lat, min_lon, max_lon = min(lats), max(lats), min(lons), max(lons)
    k = math.cos(math.radians((min_lat + max_lat) / 2))
    span_x = max((max_lon - min_lon) * k, 1e-6)
    span_y = max(max_lat - min_lat, 1e-6)
    scale = (width - 2 * pad) / max(span_x, span_y)
    height = int(span_y * scale + 2 * pad)
    out = [
        (round(pad + (lon - min_lon) * k * scale, 1), round(pad + (max_lat - lat) * scale, 1), p)
        for lat, lon, p in items
    ]
    return out, max(height, 120)


def _lang(request: Request, lang: str | None) -> str:
    if lang in LANGS:
        return lang
    cookie = request.cookies.get("lang")
    return cookie if cookie in LANGS else DEFAULT_LANG


def _render(
    request: Request, name: str, lang: str, query_lang: str | None, **context: Any
) -> HTMLResponse:
    t, check_name = translator(lang)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": t,
            "check_name": check_name,
            "fmt": format_wib,
            "evidence": _evidence_text,
            **context,
        },
    )
    if query_lang in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def _evidence_value(value: Any) -> str:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return format_wib(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, dict):
        return ", ".join(
            f"{k}={_evidence_value(v)}" for k, v in value.items() if v not in (None, [], {})
        )
    if isinstance(value, list):
        return "; ".join(_evidence_value(v) for v in value)
    return str(value)


def _evidence_text(evidence: dict[str, Any]) -> str:
    """Evidence as short ``key: value`` lines, timestamps in WIB."""
    lines = [
        f"{key}: {_evidence_value(value)}"
        for key, value in evidence.items()
        if value not in (None, [], {})
    ]
    return "\n".join(lines)[:2000]


def _village_map(rows: list[VillageRow], lang: str) -> SvgMap:
    t, _ = translator(lang)
    items = [
        (r.inputs.lat, r.inputs.lon, r)
        for r in rows
        if r.inputs.lat is not None and r.inputs.lon is not None
    ]
    projected, height = project(items)
    points = [
        MapPoint(
            x,
            y,
            5,
            r.verdict.status.value,
            _FILL[r.verdict.status.value],
            f"/desa/{r.code}?lang={lang}",
            r.inputs.village_name if len(rows) <= 60 else "",
            f"{r.inputs.village_name}: {t(r.verdict.status.value)}",
        )
        for x, y, r in projected
    ]
    return SvgMap(600, height, points)


def _regency_map(board: Board, lang: str) -> SvgMap:
    """Villages as small dots and kecamatan as labelled circles coloured by share qualified."""
    t, _ = translator(lang)
    items: list[tuple[float, float, Any]] = [
        (r.inputs.lat, r.inputs.lon, ("v", r))
        for r in board.villages
        if r.inputs.lat is not None and r.inputs.lon is not None and len(board.villages) <= 5000
    ]
    items += [
        (d.lat, d.lon, ("d", d))
        for d in board.districts.values()
        if d.lat is not None and d.lon is not None and d.code in board.by_district
    ]
    projected, height = project(items)
    points = []
    for x, y, (kind, obj) in projected:
        if kind == "v":
            status = obj.verdict.status.value
            points.append(
                MapPoint(
                    x,
                    y,
                    3,
                    status,
                    _FILL[status],
                    f"/desa/{obj.code}?lang={lang}",
                    "",
                    f"{obj.inputs.village_name}: {t(status)}",
                )
            )
    for x, y, (kind, obj) in projected:
        if kind == "d":
            counts = board.district_counts[obj.code]
            share = counts.qualified / counts.total if counts.total else 0
            fill = "#1a7f37" if share >= 0.75 else "#bf8700" if share >= 0.25 else "#cf222e"
            if counts.unknown * 2 > counts.total:
                fill = "#8c959f"
            points.append(
                MapPoint(
                    x,
                    y,
                    8,
                    "district",
                    fill,
                    f"/kecamatan/{obj.code}?lang={lang}",
                    obj.name,
                    f"{obj.name}: {counts.qualified}/{counts.total} {t('qualified')}",
                )
            )
    return SvgMap(600, height, points)


@router.get("/", response_class=HTMLResponse)
def board_page(
    request: Request, reader: ReaderDep, lang: str | None = Query(None, max_length=2)
) -> HTMLResponse:
    """The regency board by kecamatan."""
    from api.routes.readiness import cohorts_out

    board = board_of(request)
    chosen = _lang(request, lang)
    return _render(
        request,
        "board.html",
        chosen,
        lang,
        summary=regency_summary(board),
        cohorts=cohorts_out(board),
        map=_regency_map(board, chosen),
        outages=_open_outages(request),
    )


def _open_outages(request: Request, *, limit: int = 15) -> list[Any]:
    """Open incidents that are not explained by another one: a root-cause incident (an
    area outage or a link down) names the cut; the devices behind it are not repeated."""
    engine = request.app.state.engine
    if not has_table(engine, "incidents"):
        return []
    from alerts.models import Incident

    with Session(bind=engine) as session:
        rows = list(
            session.scalars(
                select(Incident)
                .where(Incident.status == "open")
                .order_by(Incident.starts_at.desc())
                .limit(500)
            )
        )
    causes = {i.probable_cause for i in rows if i.probable_cause}
    roots = [
        i
        for i in rows
        if i.probable_cause is None
        or i.alertname in ("AreaOutage", "FibreLinkDown")
        or (i.link_id is not None and i.link_id in causes)
    ]
    seen: set[tuple[str, str | None]] = set()
    out = []
    for i in sorted(roots, key=lambda i: (i.severity != "critical", i.starts_at), reverse=False):
        key = (i.alertname, i.probable_cause or i.link_id or i.device_id)
        if key in seen:
            continue
        seen.add(key)
        out.append(i)
    return out[:limit]


@router.get("/kecamatan/{code}", response_class=HTMLResponse)
def district_page(
    code: str, request: Request, reader: ReaderDep, lang: str | None = Query(None, max_length=2)
) -> HTMLResponse:
    """A kecamatan: its villages, their verdicts and what blocks them."""
    board = board_of(request)
    rows = board.by_district.get(code)
    if rows is None:
        raise HTTPException(status_code=404, detail=f"no kecamatan {code!r}")
    chosen = _lang(request, lang)
    villages = [village_detail(board, r) for r in rows]
    order = {"not_qualified": 0, "unknown": 1, "qualified": 2}
    villages.sort(key=lambda v: (order[v.verdict.value], v.name))
    return _render(
        request,
        "district.html",
        chosen,
        lang,
        district=district_summary(board, code),
        villages=villages,
        map=_village_map(rows, chosen),
    )


@router.get("/villages", response_class=HTMLResponse)
def villages_page(
    request: Request,
    reader: ReaderDep,
    failing_check: str | None = Query(None, max_length=64),
    lang: str | None = Query(None, max_length=2),
) -> HTMLResponse:
    """Villages where a check does not pass."""
    board = board_of(request)
    chosen = _lang(request, lang)
    rows = filter_villages(board, failing_check=failing_check)
    return _render(
        request,
        "villages.html",
        chosen,
        lang,
        failing_check=failing_check,
        villages=[village_detail(board, r) for r in rows[:2000]],
    )


def _site_devices(session: Session, site_id: str | None) -> list[dict[str, Any]]:
    if site_id is None:
        return []
    from collectors.store import device_states

    devices = list(
        session.execute(
            select(Device.id, Device.role).where(Device.site_id == site_id).order_by(Device.id)
        )
    )
    states = {s.device_id: s for s in device_states(session, [d.id for d in devices])}
    out = []
    for did, role in devices:
        s = states.get(did)
        out.append(
            {
                "id": did,
                "role": role,
                "status": s.status if s else "unknown",
                "last_ok_at": s.last_ok_at if s else None,
                "app_version": s.kiosk_app_version if s else None,
            }
        )
    return out


def _incidents(session: Session, row: VillageRow) -> list[Any]:
    engine = session.get_bind()
    if not has_table(engine, "incidents"):  # type: ignore[arg-type]
        return []
    from alerts.models import Incident

    conds = [Incident.village_code == row.code]
    if row.inputs.site_id:
        conds.append(Incident.site_id == row.inputs.site_id)
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.status == "open", or_(*conds))
            .order_by(Incident.starts_at.desc())
            .limit(20)
        )
    )


def _rollouts(session: Session, device_ids: list[str]) -> list[dict[str, Any]]:
    engine = session.get_bind()
    if not device_ids or not has_table(engine, "rollout_hosts"):  # type: ignore[arg-type]
        return []
    from playbooks.models import Rollout, RolloutHost

    rows = session.execute(
        select(
            RolloutHost.rollout_id,
            Rollout.version,
            RolloutHost.device_id,
            RolloutHost.state,
            RolloutHost.updated_at,
        )
        .join(Rollout, Rollout.id == RolloutHost.rollout_id)
        .where(RolloutHost.device_id.in_(device_ids))
        .order_by(RolloutHost.updated_at.desc())
        .limit(10)
    )
    return [dict(r._mapping) for r in rows]


@router.get("/desa/{code}", response_class=HTMLResponse)
def village_page(
    code: str,
    request: Request,
    reader: ReaderDep,
    session: SessionDep,
    lang: str | None = Query(None, max_length=2),
) -> HTMLResponse:
    """A village: verdict since when, what blocks it, every check with evidence, devices,
    links, open incidents, rollouts and the verdict history."""
    board = board_of(request)
    row = board.by_code.get(code)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no village {code!r}")
    chosen = _lang(request, lang)
    links: list[dict[str, Any]] = []
    if row.inputs.uplink is not None:
        links.append({**_link(row.inputs.uplink), "upstream": False})
    links += [{**_link(link), "upstream": True} for link in row.inputs.upstream_links]
    devices = _site_devices(session, row.inputs.site_id)
    return _render(
        request,
        "village.html",
        chosen,
        lang,
        v=village_detail(board, row),
        links=links,
        devices=devices,
        incidents=_incidents(session, row),
        rollouts=_rollouts(session, [d["id"] for d in devices]),
        history=village_history(session, code)[:20],
    )


def _link(link: Any) -> dict[str, Any]:
    return {
        "id": link.id,
        "medium": link.medium,
        "status": link.status or "unknown",
        "since": link.since,
    }


def install(app: FastAPI) -> None:
    """Add the dashboard pages to ``app``."""
    app.include_router(router)


__all__ = ["datetime", "install", "project"]
