"""Prometheus endpoints: ``/metrics`` (the embedded poller's observations), ``/probe``
(Prometheus-driven polling, the multi-target exporter pattern) and
``/api/v1/sd/prometheus`` (http_sd target groups from the inventory)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import MetricsReaderDep, ScrapeDep
from api.deps import SessionDep
from api.params import text_query
from collectors.exposition import CONTENT_TYPE, Family, LabelSet
from collectors.metrics import StoreCollector
from collectors.probe import PreparedProbe, ProbeError, prepare, run_prepared
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
    app.state.probe_limiter = ProbeLimiter(limit=settings.probe_concurrency,
                                           deadline=settings.probe_deadline_seconds)
    app.include_router(router)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Text format 0.0.4"},
               401: {"description": "Readiness is not public: the scrape credential or a "
                                    "viewer token is needed"}},
)
def metrics(request: Request, reader: MetricsReaderDep) -> Response:
    """Every observation of the embedded poller, in Prometheus text format 0.0.4."""
    body = request.app.state.metrics_collector.render()
    return Response(content=body, media_type=CONTENT_TYPE)


class ProbeLimiter:
    """At most ``limit`` probes at once (the rest are told to come back), each within
    ``deadline`` seconds; the database half runs in at most four worker threads of their
    own, so probes cannot take every thread or connection from the rest of the API."""

    def __init__(self, *, limit: int, deadline: float) -> None:
        self.limit = limit
        self.deadline = deadline
        self.active = 0
        # a few threads are enough for the short inventory reads; many would fight the
        # event loop for the GIL just when a burst of probes arrives
        self.threads = anyio.CapacityLimiter(min(limit, 4))
        self._refused = 0
        self._logged_at = -1e9

    @property
    def full(self) -> bool:
        """True when a new probe would pass the limit."""
        return self.active >= self.limit

    @property
    def retry_after(self) -> int:
        """Seconds a refused caller should wait (one deadline, at least 1)."""
        return max(1, math.ceil(self.deadline))

    def refused(self) -> None:
        """Count a refused probe; log the count at most every 10 s (a flood logs little)."""
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at >= 10.0:
            logger.warning("probe refused: %d probes running (limit %d); %d refused since "
                           "the last report", self.active, self.limit, self._refused)
            self._refused, self._logged_at = 0, now

    def too_many(self) -> PlainTextResponse:
        """The 429 answer."""
        self.refused()
        return PlainTextResponse(
            f"too many probes at once (limit {self.limit}); retry later\n",
            status_code=429, headers={"Retry-After": str(self.retry_after)},
        )


class ProbeShedder:
    """ASGI middleware answering ``/probe`` with 429 when the probe limit is reached, before
    authentication and routing: a flood of probes costs the server as little as possible."""

    def __init__(self, app: ASGIApp, *, limiter: Callable[[], ProbeLimiter | None]) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter() if scope["type"] == "http" else None
        if limiter is not None and scope.get("path") == "/probe" and limiter.full:
            await limiter.too_many()(scope, receive, send)
            return
        await self.app(scope, receive, send)


@router.get(
    "/probe",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {}}, "description": "One poll, text format 0.0.4"},
        400: {"description": "Missing, repeated or unknown parameter or module"},
        401: {"description": "The scrape credential or a viewer token is needed"},
        403: {"description": "The device's address is outside its profile's allowed_networks"},
        404: {"description": "Unknown device"},
        429: {"description": "Too many probes at once (see Retry-After)"},
        503: {"description": "The device's credential is unavailable"},
        504: {"description": "The probe did not finish within its deadline"},
    },
)
async def probe_route(request: Request, caller: ScrapeDep) -> Response:
    """Poll one device now: ``/probe?target=DEVICE&module=snmp|ssh``.

    Nothing here waits on the event loop: the database is read in a worker thread, the
    device is polled asynchronously, under a concurrency limit and a total deadline.
    """
    settings = request.app.state.settings
    limiter: ProbeLimiter = request.app.state.probe_limiter
    if limiter.full:
        return limiter.too_many()
    factory = getattr(request.app.state, "probe_collector_factory", None)
    kwargs: dict[str, Any] = {"factory": factory} if factory is not None else {}
    params = list(request.query_params.multi_items())
    engine = request.app.state.engine

    def read_inventory() -> PreparedProbe:
        with Session(bind=engine, expire_on_commit=False) as session:
            return prepare(session, params, timeout=settings.poll_timeout_seconds,
                           retries=settings.poll_retries)

    limiter.active += 1
    try:
        with anyio.fail_after(limiter.deadline):
            prepared = await anyio.to_thread.run_sync(read_inventory, limiter=limiter.threads)
            body = await run_prepared(prepared, **kwargs)
    except ProbeError as exc:
        return PlainTextResponse(str(exc) + "\n", status_code=exc.status)
    except TimeoutError:
        logger.warning("probe %s: no result within %.1f s (deadline)",
                       request.query_params.get("target"), limiter.deadline)
        return PlainTextResponse(f"probe did not finish within {limiter.deadline:g} s\n",
                                 status_code=504)
    finally:
        limiter.active -= 1
    return Response(content=body, media_type=CONTENT_TYPE)


@router.get("/api/v1/sd/prometheus", response_model=list[TargetGroup],
            responses={401: {"description": "The scrape credential or a viewer token is "
                                            "needed (the groups carry management addresses)"}})
def service_discovery(
    session: SessionDep,
    caller: ScrapeDep,
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
