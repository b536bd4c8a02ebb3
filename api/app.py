"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.settings import Settings
from inventory.db import get_engine

logger = logging.getLogger(__name__)

ROUTERS = (
    "api.params",
    "api.routes.health",
    "api.routes.inventory",
    "api.routes.readiness",
    "api.routes.auth",
    "api.routes.inventory_write",
    "api.routes.metrics",
    "api.routes.alerts",
    "api.routes.rollouts",
    "api.dashboard.routes",
    "playbooks.service",
    "collectors.service",
)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for ``settings``: routers, the database engine, and (when
    ``settings.run_poller``) the poller started in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                await hook(app)

    app = FastAPI(
        title="Kentongan",
        version="0.1.0",
        description=(
            "Smart Kampung infrastructure manager: inventory, observations, alerts, "
            "rollouts and village readiness."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = get_engine(settings.database_url)
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    for name in ROUTERS:
        module = __import__(name, fromlist=["install"])
        module.install(app)
    return app
