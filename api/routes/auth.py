"""Routes: who am I, API tokens (admin) and the audit log (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from api.auth import (
    AdminDep,
    AuthError,
    Role,
    ViewerDep,
    audit,
    create_token,
    list_tokens,
    revoke_token,
)
from api.deps import SessionDep
from api.models import ApiToken, AuditEntry
from api.params import IntId, text_query
from api.readiness.fields import UtcDateTime

router = APIRouter(prefix="/api/v1", tags=["auth"])


class WhoAmI(BaseModel):
    """The caller as the API sees it."""

    name: str
    role: Role
    token_id: int | None


class TokenPublic(BaseModel):
    """A token as listed: never the token nor its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    created_at: UtcDateTime
    created_by: str | None
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class TokenCreate(BaseModel):
    """Ask for a new token."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128,
                      pattern=r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
                      description="Printable, not blank")
    role: Role


class TokenCreated(TokenPublic):
    """The new token; ``token`` is shown this once and never again."""

    token: str


class AuditPublic(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDateTime
    actor: str
    role: str
    token_id: int | None
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    total: int
    offset: int
    limit: int
    items: list[AuditPublic]


@router.get("/whoami", response_model=WhoAmI)
def whoami(principal: ViewerDep) -> WhoAmI:
    """The name and role of the presented token."""
    return WhoAmI(name=principal.name, role=principal.role, token_id=principal.token_id)


@router.get("/tokens", response_model=list[TokenPublic])
def get_tokens(principal: AdminDep, session: SessionDep) -> list[TokenPublic]:
    """Every API token (admin)."""
    return [TokenPublic.model_validate(row) for row in list_tokens(session)]


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def post_token(body: TokenCreate, principal: AdminDep, session: SessionDep) -> TokenCreated:
    """Create a token (admin). The response holds the token once."""
    row, token = create_token(session, body.name, body.role, created_by=principal.name)
    audit(session, principal, action="token.create", target=f"token:{row.id}",
          details={"name": row.name, "role": row.role})
    session.commit()
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=TokenPublic)
def delete_token(token_id: IntId, principal: AdminDep, session: SessionDep) -> TokenPublic:
    """Revoke a token (admin)."""
    try:
        row = revoke_token(session, token_id)
    except AuthError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    audit(session, principal, action="token.revoke", target=f"token:{row.id}",
          details={"name": row.name})
    session.commit()
    return TokenPublic.model_validate(row)


@router.get("/audit", response_model=AuditPage)
def get_audit(
    principal: AdminDep,
    session: SessionDep,
    actor: Annotated[str | None, text_query(128)] = None,
    action: Annotated[str | None, text_query(64)] = None,
    target: Annotated[str | None, text_query(256)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """The audit log (admin): who changed what, when; filter by actor, action or target."""
    stmt = select(AuditEntry)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target:
        stmt = stmt.where(AuditEntry.target == target)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    ).all()
    return AuditPage(total=total, offset=offset, limit=limit,
                     items=[AuditPublic.model_validate(r) for r in rows])


def install(app: FastAPI) -> None:
    """Add these routes to ``app``."""
    app.include_router(router)


__all__ = ["ApiToken", "install", "router"]
