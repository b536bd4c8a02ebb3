"""Routes: readiness (to be filled by its issue)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter(tags=["readiness"])


def install(app: FastAPI) -> None:
    app.include_router(router)
