"""``/healthz``: is the process up and can it reach its database."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/healthz", response_model=Health)
def healthz(session: SessionDep) -> Health:
    """Liveness and database reachability."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # reported as degraded, not raised
        return Health(status="degraded", database=type(exc).__name__)
    return Health(status="ok", database="ok")


def install(app: FastAPI) -> None:
    app.include_router(router)
