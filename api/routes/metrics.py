"""Prometheus endpoints: ``/metrics`` (the embedded poller's observations), ``/probe``
(Prometheus-driven polling, the multi-target exporter pattern) and
``/api/v1/sd/prometheus`` (http_sd target groups from the inventory)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import Engine

from api.deps import SessionDep
from api.params import text_query
from collectors.exposition import CONTENT_TYPE, Family, LabelSet
from collectors.metrics import StoreCollector
from collectors.probe import ProbeError, probe
from core.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(tags=["metrics"])


class TargetGroup(BaseModel):
    """One http_sd target group."""

    targets: list[str]
    labels: dict[str, str]


def _poller_stats(app: FastAPI) -> Mapping[str, float] | None:
    scheduler = getattr(app.state, "scheduler", None)
    stats = getattr(scheduler, "stats", None) if scheduler is not None else None
    if stats is None:
        return None
    if callable(stats):
        stats = stats()
    if hasattr(stats, "as_dict"):
        return stats.as_dict()  # type: ignore[no-any-return]
    if isinstance(stats, Mapping):
        return stats
    return {k: float(v) for k, v in vars(stats).items() if isinstance(v, int | float)}


_LABEL_NAMES = {"village": "village_code", "district": "district_code"}


def _village_qualified(settings: Settings) -> Callable[[Engine], Iterable[Family]]:
    """``kentongan_village_qualified`` from the readiness engine
    (``api.readiness.service.village_qualified_samples``), labels renamed to the metric
    conventions (``village_code``, ``district_code``)."""

    def source(engine: Engine) -> Iterable[Family]:
        try:
            from api.readiness.service import village_qualified_samples
        except ImportError:
            return []
        from sqlalchemy.orm import Session

        fam = Family(
            "kentongan_village_qualified",
            "gauge",
            "1 when the village meets the Smart Kampung infrastructure qualifications.",
        )
        with Session(bind=engine) as session:
            for labels, value in village_qualified_samples(session, settings):
                names = tuple(_LABEL_NAMES.get(n, n) for n in labels)
                fam.add(LabelSet(names, tuple(str(v) for v in labels.values())), value)
        return [fam]

    return source


def install(app: FastAPI) -> None:
    """Mount the routes and build the app's store collector."""
    settings = app.state.settings
    app.state.metrics_collector = StoreCollector(
        app.state.engine,
        stale_after_intervals=settings.stale_after_intervals,
        default_interval_seconds=settings.poll_interval_seconds,
        poller_stats=lambda: _poller_stats(app),
        extra=(_village_qualified(settings),),
    )
    app.include_router(router)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Text format 0.0.4"}},
)
def metrics(request: Request) -> Response:
    """Every observation of the embedded poller, in Prometheus text format 0.0.4."""
    body = request.app.state.metrics_collector.render()
    return Response(content=body, media_type=CONTENT_TYPE)


@router.get(
    "/probe",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "One poll, text format 0.0.4"},
        400: {"description": "Missing, repeated or unknown parameter or module"},
        404: {"description": "Unknown device"},
    },
)
async def probe_route(request: Request, session: SessionDep) -> Response:
    """Poll one device now: ``/probe?target=DEVICE&module=snmp|ssh``."""
    settings = request.app.state.settings
    factory = getattr(request.app.state, "probe_collector_factory", None)
    kwargs: dict[str, Any] = {"factory": factory} if factory is not None else {}
    try:
        body = await probe(
            session,
            list(request.query_params.multi_items()),
            settings=settings,
            timeout=settings.poll_timeout_seconds,
            retries=settings.poll_retries,
            **kwargs,
        )
    except ProbeError as exc:
        return PlainTextResponse(str(exc) + "\n", status_code=exc.status)
    return Response(content=body, media_type=CONTENT_TYPE)


@router.get("/api/v1/sd/prometheus", response_model=list[TargetGroup])
def service_discovery(
    session: SessionDep,
    district: Annotated[str | None, text_query(16)] = None,
    role: Annotated[str | None, text_query(16)] = None,
) -> Response:
    """Prometheus http_sd: one target group per device (target = device id, for
    ``/probe``), with its inventory labels and ``upstream_1`` … ``upstream_N`` (the fibre
    path from the NOC, used by Alertmanager's inhibit rules)."""
    from inventory.export import prometheus_sd

    groups = prometheus_sd(session, district=district, role=role)
    for group in groups:
        labels = group["labels"]
        path = [p for p in str(labels.get("__meta_kentongan_upstream_links", "")).split(",") if p]
        for depth, link in enumerate(reversed(path), start=1):
            labels[f"upstream_{depth}"] = link
        group["labels"] = {k: str(v) for k, v in labels.items() if v is not None}
    return JSONResponse(groups)
