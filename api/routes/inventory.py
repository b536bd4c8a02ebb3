"""Inventory read routes (sites, devices, links, villages)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter(prefix="/api/v1", tags=["inventory"])


def install(app: FastAPI) -> None:
    app.include_router(router)
