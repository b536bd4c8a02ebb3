"""Alerts routes: the Alertmanager webhook (``POST /api/v1/alerts``) and incidents
(``GET /api/v1/incidents``)."""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alerts.incidents import (
    DeliveryResult,
    WebhookError,
    WebhookPayload,
    apply_delivery,
    list_incidents,
)
from alerts.models import Incident
from alerts.sla import ReportError, SlaReport, format_duration, sla_report, to_csv
from api.deps import SessionDep, SettingsDep
from api.params import InputDateTime, text_query
from api.readiness.policy import Cohort, load_policy
from core.settings import Settings
from core.timeutil import WIB, as_utc, format_wib, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["alerts"])
page_router = APIRouter(include_in_schema=False)

MAX_BODY = 4 * 1024 * 1024


class IncidentOut(BaseModel):
    """An incident as the API returns it (times in UTC, plus WIB for people)."""

    id: int
    alertname: str
    severity: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    starts_at_wib: str
    device_id: str | None
    link_id: str | None
    site_id: str | None
    village_code: str | None
    district_code: str | None
    summary: str | None
    summary_id: str | None
    description: str | None
    probable_cause: str | None
    probable_cause_kind: str | None
    fingerprint: str
    labels: dict[str, str]
    flaps: int = 0

    @classmethod
    def of(cls, inc: Incident) -> IncidentOut:
        """Build from a row."""
        return cls(
            id=inc.id,
            alertname=inc.alertname,
            severity=inc.severity,
            status=inc.status,
            flaps=inc.flaps or 0,
            starts_at=as_utc(inc.starts_at),
            ends_at=as_utc(inc.ends_at) if inc.ends_at else None,
            starts_at_wib=format_wib(inc.starts_at),
            device_id=inc.device_id,
            link_id=inc.link_id,
            site_id=inc.site_id,
            village_code=inc.village_code,
            district_code=inc.district_code,
            summary=inc.summary,
            summary_id=(inc.annotations or {}).get("summary_id"),
            description=inc.description,
            probable_cause=inc.probable_cause,
            probable_cause_kind=inc.probable_cause_kind,
            fingerprint=inc.fingerprint,
            labels={str(k): str(v) for k, v in (inc.labels or {}).items()},
        )


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with ``$defs`` references inlined (for ``openapi_extra``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


def _authorize(request: Request, settings: Settings, session: Session) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: Authorization: Bearer <webhook token or engineer API token>",
            headers={"WWW-Authenticate": 'Bearer realm="kentongan"'},
        )
    expected = settings.webhook_token
    if expected is not None and hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return
    try:
        from api.auth import Role, authenticate
    except ImportError:
        principal = None
    else:
        principal = authenticate(session, token)
        if principal is not None and principal.role.allows(Role.ENGINEER):
            return
        if principal is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs role engineer or above")
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "invalid token",
        headers={"WWW-Authenticate": 'Bearer realm="kentongan"'},
    )


@router.post(
    "/alerts",
    response_model=DeliveryResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema(WebhookPayload)}},
        }
    },
    responses={
        400: {"description": "Malformed JSON"},
        401: {"description": "Missing or invalid bearer token"},
        409: {"description": "Replayed delivery of an incident already resolved"},
        413: {"description": "Body too large"},
        422: {"description": "Wrong version, missing labels, unknown device or link"},
    },
)
async def receive_alerts(request: Request, settings: SettingsDep) -> JSONResponse:
    """Alertmanager webhook receiver (payload version 4): opens and resolves incidents.

    Idempotent: a repeated delivery changes nothing. A bad delivery is refused whole. The
    body is read on the event loop (its size is capped before this route runs); the
    database work runs in the thread pool.
    """
    body = await request.body()
    return await run_in_threadpool(_deliver, request, settings, body)


def _deliver(request: Request, settings: Settings, body: bytes) -> JSONResponse:
    with Session(bind=request.app.state.engine, expire_on_commit=False) as session:
        _authorize(request, settings, session)
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "body too large"}, status_code=413)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"detail": f"malformed JSON: {exc}"}, status_code=400)
        try:
            payload = WebhookPayload.model_validate(data)
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return JSONResponse(
                {"detail": "not an Alertmanager version 4 payload", "errors": errors},
                status_code=422,
            )
        try:
            result = apply_delivery(session, payload)
        except WebhookError as exc:
            session.rollback()
            logger.warning("webhook delivery refused: %s", exc)
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        session.commit()
        return JSONResponse(result.model_dump())


@router.get("/incidents", response_model=list[IncidentOut])
def incidents(
    session: SessionDep,
    status_: Annotated[Literal["open", "resolved"] | None, Query(alias="status")] = None,
    district: Annotated[str | None, text_query(16)] = None,
    village: Annotated[str | None, text_query(16)] = None,
    site: Annotated[str | None, text_query(64)] = None,
    device: Annotated[str | None, text_query(64)] = None,
    severity: Annotated[Literal["critical", "warning", "info"] | None, Query()] = None,
    alertname: Annotated[str | None, text_query(64)] = None,
    since: Annotated[InputDateTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[IncidentOut]:
    """Incidents, newest first, filtered by status, district, village, site, device,
    severity, alert name and start time."""
    rows = list_incidents(
        session,
        status=status_,
        district=district,
        village=village,
        site=site,
        device=device,
        severity=severity,
        alertname=alertname,
        since=since,
        limit=limit,
    )
    return [IncidentOut.of(row) for row in rows]


def policy_cohorts(settings: Any) -> list[Cohort]:
    """The readiness policy's cohorts for the SLA report (none, logged, if the policy
    cannot be read: the report still serves villages and districts)."""
    try:
        return list(load_policy(settings.policy_path).cohorts)
    except Exception:
        logger.exception("cannot load the readiness policy for cohorts")
        return []


def _report(
    session: Any, settings: Any, *, month: str, district: str | None, village: str | None,
    cohort: str | None,
) -> SlaReport:
    from collectors.promquery import availability_many_source, availability_source_name
    from collectors.store import StorePolicy

    try:
        return sla_report(
            session, month=month, district=district, village=village, cohort=cohort,
            availability_many_fn=availability_many_source(
                settings.prometheus_url, policy=StorePolicy.from_settings(settings)),
            source=availability_source_name(settings),
            cohorts=policy_cohorts(settings),
        )
    except ReportError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


MonthQ = Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (WIB)")]


@router.get(
    "/reports/sla",
    response_model=SlaReport,
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
        400: {"description": "Month out of range or unknown cohort"},
    },
)
def sla_report_route(
    session: SessionDep,
    settings: SettingsDep,
    month: MonthQ,
    district: Annotated[str | None, text_query(16)] = None,
    village: Annotated[str | None, text_query(16)] = None,
    cohort: Annotated[str | None, text_query(64)] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    """Monthly SLA per village, district and cohort; each outage attributed to the upstream
    link, power or the site's own device. ``format=csv`` for one row per village, district
    and cohort."""
    report = _report(session, settings, month=month, district=district, village=village,
                     cohort=cohort)
    if format_ == "csv":
        return Response(
            content=to_csv(report), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="sla-{month}.csv"'},
        )
    return JSONResponse(report.model_dump(mode="json"))


@page_router.get("/reports/sla", response_class=HTMLResponse)
def sla_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    month: Annotated[str | None, Query()] = None,
    district: Annotated[str | None, text_query(16)] = None,
    village: Annotated[str | None, text_query(16)] = None,
    cohort: Annotated[str | None, text_query(64)] = None,
    lang: Annotated[Literal["id", "en"], Query()] = "id",
) -> HTMLResponse:
    """The SLA report as a page (Bahasa Indonesia and English; durations in ``lang``)."""
    month = month or utcnow().astimezone(WIB).strftime("%Y-%m")
    report = _report(session, settings, month=month, district=district, village=village,
                     cohort=cohort)
    params = {"month": month, "district": district, "village": village, "cohort": cohort}
    html = _templates().get_template("sla.html").render(
        report=report,
        query=urlencode({k: v for k, v in params.items() if v}),
        start_wib=format_wib(report.start),
        end_wib=format_wib(report.end),
        wib=format_wib,
        duration=lambda seconds: format_duration(seconds, lang),
        cause_names={"link": "link hulu / upstream link", "power": "listrik / power",
                     "device": "perangkat / device"},
    )
    return HTMLResponse(html)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(Path(__file__).resolve().parents[2] / "alerts" / "templates")),
        autoescape=select_autoescape(["html"]),
    )


def install(app: FastAPI) -> None:
    """Mount the routes (the webhook takes bodies up to ``MAX_BODY``)."""
    app.state.body_limits["/api/v1/alerts"] = MAX_BODY
    app.include_router(router)
    app.include_router(page_router)
