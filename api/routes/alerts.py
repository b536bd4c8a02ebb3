"""Routes: alerts (to be filled by its issue)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter(tags=["alerts"])


def install(app: FastAPI) -> None:
    app.include_router(router)
