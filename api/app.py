"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api.auth import AccessGate
from api.middleware import AccessLogMiddleware, BodyLimitMiddleware
from api.routes.metrics import ProbeShedder
from core.settings import Settings
from inventory.db import get_engine

logger = logging.getLogger(__name__)

AppInstaller = Callable[[FastAPI], None]
"""A package's ``install(app)``: adds its routes, state and lifespan hooks."""


def create_app(settings: Settings, *, installers: Sequence[AppInstaller]) -> FastAPI:
    """Build the app for ``settings``: the database engine, then each of ``installers``
    in order (routers, and lifespan hooks such as the poller's when
    ``settings.run_poller``). The composition root passes every package's installers
    (``kentongan.app.create_app``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                await hook(app)

    # /docs with the Swagger UI assets shipped in fastapi-offline: no CDN. (ReDoc is off: its
    # bundle fetches a badge from its vendor's CDN, which a closed network cannot reach.)
    app = FastAPIOffline(
        redoc_url=None,
        title="Kentongan",
        version="0.1.0",
        description=(
            "Smart Kampung infrastructure manager: inventory, observations, alerts, "
            "rollouts and village readiness."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = get_engine(
        settings.database_url, pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout_seconds,
    )
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    # Routes that need bodies over settings.max_body_bytes add {path prefix: bytes} here.
    app.state.body_limits = {}
    for install in installers:
        install(app)
    install_middleware(app, settings)
    return app


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Outermost first: the access log, the probe shedder (429 when ``/probe`` is full),
    the body limit (before authentication and parsing), then the access gate (who may
    reach the app at all)."""
    app.add_middleware(AccessGate, settings=settings, engine=app.state.engine)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes,
                       timeout_seconds=settings.body_timeout_seconds,
                       limits=app.state.body_limits)
    app.add_middleware(ProbeShedder,
                       limiter=lambda: getattr(app.state, "probe_limiter", None))
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware)
