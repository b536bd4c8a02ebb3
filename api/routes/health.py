"""``/healthz``: is the process up and can it reach its database.

It answers within ``HEALTH_DEADLINE_SECONDS`` whatever else the server is doing: the
database check runs in its own worker threads (not the pool that sync routes share), and a
check that does not finish in time is reported as ``degraded`` rather than waited for.
"""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

HEALTH_DEADLINE_SECONDS = 2.0


class Health(BaseModel):
    """``status`` ok or degraded; ``database`` ok, ``timeout`` or the error's type."""

    status: str
    database: str


def _check(engine: Engine) -> str:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # reported as degraded, not raised
        logger.warning("healthz: database check failed: %s", exc)
        return type(exc).__name__
    return "ok"


@router.get("/healthz", response_model=Health)
async def healthz(request: Request) -> Health:
    """Liveness and database reachability."""
    limiter: anyio.CapacityLimiter = request.app.state.health_limiter
    with anyio.move_on_after(HEALTH_DEADLINE_SECONDS):
        database = await anyio.to_thread.run_sync(
            _check, request.app.state.engine, limiter=limiter, abandon_on_cancel=True
        )
        return Health(status="ok" if database == "ok" else "degraded", database=database)
    return Health(status="degraded", database="timeout")


def install(app: FastAPI) -> None:
    """Mount ``/healthz`` with its own two worker threads."""
    app.state.health_limiter = anyio.CapacityLimiter(2)
    app.include_router(router)
