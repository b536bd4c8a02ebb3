"""Access control: roles, hashed API tokens, the caller's identity and the audit log.

Roles are ordered ``viewer < technician < engineer < admin``. Routes that write depend on
:func:`require_role`; readiness reads depend on :func:`optional_principal` (open to anyone
when ``settings.public_readiness``). Tokens are random, shown once at creation, and stored
as their sha256; they never appear in logs, responses or metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import SessionDep
from api.models import ApiToken, AuditEntry
from core.errors import KentonganError
from core.settings import Settings
from core.timeutil import as_utc, utcnow

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "ktg_"  # noqa: S105 - a public marker, not a secret
_LAST_USED_RESOLUTION = timedelta(minutes=5)


class Role(StrEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = "viewer"
    TECHNICIAN = "technician"
    ENGINEER = "engineer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order viewer < technician < engineer < admin."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role is ``needed`` or above it."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.TECHNICIAN: 1, Role.ENGINEER: 2, Role.ADMIN: 3}


class AuthError(KentonganError):
    """A token operation failed (unknown token id, bad role…)."""

    def __init__(self, message: str, *, token_id: int | None = None) -> None:
        super().__init__(message)
        self.token_id = token_id


class CredentialKind(StrEnum):
    """What kind of credential a caller presented."""

    API = "api"  # an API token of the database (a role)
    SCRAPE = "scrape"  # the scrape credential (settings.scrape_token_file): Prometheus
    WEBHOOK = "webhook"  # settings.webhook_token: Alertmanager's deliveries


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's name, its role and its id (never the token itself).

    ``kind`` is :attr:`CredentialKind.API` for API tokens; the scrape and webhook
    credentials are principals too (for the audit and access logs) but hold no role:
    :func:`require_role` refuses them.
    """

    name: str
    role: Role
    token_id: int | None
    kind: CredentialKind = CredentialKind.API


def hash_token(token: str) -> str:
    """The stored form of a token: hex sha256."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh high-entropy token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    session: Session, name: str, role: Role | str, *, created_by: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the plain token (the only time it exists)."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise AuthError(
            f"unknown role {role!r}; expected one of {', '.join(r.value for r in Role)}"
        ) from exc
    if not name.strip():
        raise AuthError("a token needs a name (who or what uses it)")
    token = new_token()
    row = ApiToken(
        name=name.strip(), role=role.value, token_hash=hash_token(token), created_by=created_by,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    logger.info("created API token id=%s name=%s role=%s", row.id, row.name, row.role)
    return row, token


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[ApiToken]:
    """Every token row (hashes included: callers must not show them)."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a token by id; revoking twice is allowed and keeps the first time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AuthError(f"no API token with id {token_id}", token_id=token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        logger.info("revoked API token id=%s name=%s", row.id, row.name)
    return row


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > _LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.commit()
    return Principal(name=row.name, role=Role(row.role), token_id=row.id)


bearer_scheme = HTTPBearer(
    auto_error=False,
    description="API token: `Authorization: Bearer ktg_…` (see `kentongan token create`).",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=message,
        headers={"WWW-Authenticate": 'Bearer realm="kentongan"'},
    )


def _principal_from(session: Session, credentials: HTTPAuthorizationCredentials | None,
                    request: Request) -> Principal | None:
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized("malformed Authorization header; expected 'Bearer <token>'")
        return None
    principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise _unauthorized("invalid or revoked API token")
    return principal


def require_role(role: Role) -> Callable[..., Principal]:
    """A dependency that returns the caller's :class:`Principal` when its role is at least
    ``role``; 401 without a valid token, 403 when the role is too low."""

    def dependency(request: Request, session: SessionDep, credentials: BearerDep) -> Principal:
        principal = _gated(request)
        if principal is None:
            principal = _principal_from(session, credentials, request)
        if principal is not None and principal.kind is not CredentialKind.API:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"the {principal.kind.value} credential cannot do this; use an API "
                f"token with role {role.value} or above",
            )
        if principal is None:
            raise _unauthorized(f"authentication required: this needs an API token with role "
                                f"{role.value} or above")
        if not principal.role.allows(role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this needs role {role.value} or above; token "
                f"{principal.name!r} has role {principal.role.value}",
            )
        return principal

    dependency.__name__ = f"require_{role.value}"
    dependency.required_role = role  # type: ignore[attr-defined]
    return dependency


async def optional_principal(request: Request, credentials: BearerDep) -> Principal | None:
    """The caller, or None for an anonymous read when ``settings.public_readiness``.

    A token that is presented must be valid (401 otherwise). When readiness is not public,
    a viewer token or above is required. Anonymous reads touch neither the database nor
    the thread pool.
    """
    settings = request.app.state.settings
    gated = _gated(request)
    if gated is not None:
        if gated.kind is not CredentialKind.API:
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                                detail=f"the {gated.kind.value} credential cannot read this")
        return gated
    if credentials is None and not request.headers.get("authorization"):
        if settings.public_readiness:
            return None
        raise _unauthorized("authentication required: readiness is not public here; "
                            "use an API token with role viewer or above")

    def lookup() -> Principal | None:
        with Session(bind=request.app.state.engine, expire_on_commit=False) as session:
            return _principal_from(session, credentials, request)

    return await run_in_threadpool(lookup)


ReaderDep = Annotated[Principal | None, Depends(optional_principal)]
ViewerDep = Annotated[Principal, Depends(require_role(Role.VIEWER))]
TechnicianDep = Annotated[Principal, Depends(require_role(Role.TECHNICIAN))]
EngineerDep = Annotated[Principal, Depends(require_role(Role.ENGINEER))]
AdminDep = Annotated[Principal, Depends(require_role(Role.ADMIN))]


def audit(
    session: Session,
    principal: Principal,
    *,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record a write in the audit log, in the caller's transaction (commit it with the
    change, so the change and its record land together)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=principal.name,
        role=principal.role.value,
        token_id=principal.token_id,
        action=action,
        target=target,
        details=_jsonable(details or {}),
    )
    session.add(entry)
    logger.info("audit: %s by %s (%s) on %s", action, principal.name, principal.role, target)
    return entry


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------- access gate
PUBLIC_PATHS = frozenset({"/healthz"})
SCRAPE_PATHS = frozenset({"/metrics", "/probe", "/api/v1/sd/prometheus"})
WEBHOOK_PATHS = frozenset({"/api/v1/alerts"})
SCRAPE_PRINCIPAL = Principal(name="prometheus-scrape", role=Role.VIEWER, token_id=None,
                             kind=CredentialKind.SCRAPE)
WEBHOOK_PRINCIPAL = Principal(name="alertmanager-webhook", role=Role.VIEWER, token_id=None,
                              kind=CredentialKind.WEBHOOK)
_STATE_KEY = "principal"


class ScrapeCredential:
    """The scrape bearer token, read from ``settings.scrape_token_file`` and re-read when the
    file changes (checked at most every ``recheck_seconds``), so it can be rotated without a
    restart.

    An unreadable file is logged (with its path) and matches nothing; callers only ever
    learn "invalid or revoked API token".
    """

    def __init__(self, path: Path | None, *, recheck_seconds: float = 5.0) -> None:
        self.path = path
        self.recheck_seconds = recheck_seconds
        self._checked_at: float | None = None
        self._stamp: tuple[int, int] | None = None
        self._token: str | None = None
        self._warned = False

    @property
    def due(self) -> bool:
        """True when the file should be looked at again (:meth:`refresh`, blocking)."""
        if self.path is None:
            return False
        return (self._checked_at is None
                or time.monotonic() - self._checked_at >= self.recheck_seconds)

    def refresh(self) -> None:
        """Re-read the file if it changed (blocking file access: call from a thread)."""
        if self.path is None:
            return
        self._checked_at = time.monotonic()
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                token = self.path.read_text(encoding="utf-8").strip()
                self._token, self._stamp, self._warned = token or None, stamp, False
                if not token:
                    logger.error("scrape token file %s is empty: scrapes are refused",
                                 self.path)
        except OSError as exc:
            if not self._warned:
                logger.error("scrape token file %s cannot be read (%s): scrapes are refused",
                             self.path, exc.strerror or type(exc).__name__)
                self._warned = True
            self._token, self._stamp = None, None

    def matches(self, token: str) -> bool:
        """True when ``token`` is the scrape token (constant-time; no file access)."""
        expected = self._token
        return expected is not None and hmac.compare_digest(token.encode(), expected.encode())


def _gated(request: Request) -> Principal | None:
    """The principal the access gate authenticated for this request, if any."""
    value = request.scope.get("state", {}).get(_STATE_KEY)
    return value if isinstance(value, Principal) else None


def fixed_credential(token: str, *, settings: Settings,
                     scrape: ScrapeCredential) -> Principal | None:
    """The webhook or scrape principal when ``token`` is one of those (no I/O)."""
    webhook = settings.webhook_token
    if webhook is not None and hmac.compare_digest(
        token.encode(), webhook.get_secret_value().encode()
    ):
        return WEBHOOK_PRINCIPAL
    if scrape.matches(token):
        return SCRAPE_PRINCIPAL
    return None


class AccessGate:
    """ASGI middleware deciding who may reach the app at all, before any route runs.

    * ``/healthz`` answers everyone.
    * A presented bearer token is checked (in a worker thread: it reads the database); an
      invalid one is refused with 401 everywhere. The scrape credential reaches only
      ``/metrics``, ``/probe`` and ``/api/v1/sd/prometheus``; the webhook token only
      ``/api/v1/alerts``.
    * Without a token: when ``settings.public_readiness`` is false, 401 for everything but
      ``/healthz`` (pages, API, docs, ``/metrics``); otherwise the routes decide.

    The authenticated :class:`Principal` is kept in the request state (routes and the
    access log read it; routes do not look the token up again).
    """

    def __init__(self, app: ASGIApp, *, settings: Settings, engine: Engine,
                 lookup_threads: int = 8) -> None:
        self.app = app
        self.settings = settings
        self.engine = engine
        self.scrape = ScrapeCredential(settings.scrape_token_file)
        # API-token lookups get their own few threads: a flood of token-bearing requests
        # cannot take the thread pool that sync routes (and /healthz) run in.
        self.lookups = anyio.CapacityLimiter(lookup_threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        header = next((bytes(v).decode("latin-1") for k, v in scope.get("headers", [])
                       if k.lower() == b"authorization"), None)
        if header is None:
            if not self.settings.public_readiness:
                await _deny(send, 401, "authentication required: this server is not public; "
                                       "use an API token with role viewer or above "
                                       "(Authorization: Bearer ktg_…)")
                return
            await self.app(scope, receive, send)
            return
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            await _deny(send, 401, "malformed Authorization header; expected 'Bearer <token>'")
            return

        if self.scrape.due:
            await anyio.to_thread.run_sync(self.scrape.refresh, limiter=self.lookups)
        principal = fixed_credential(token, settings=self.settings, scrape=self.scrape)
        if principal is None:
            def lookup() -> Principal | None:
                with Session(bind=self.engine, expire_on_commit=False) as session:
                    return authenticate(session, token)

            principal = await anyio.to_thread.run_sync(lookup, limiter=self.lookups)
        if principal is None:
            await _deny(send, 401, "invalid or revoked API token")
            return
        if principal.kind is CredentialKind.SCRAPE and path not in SCRAPE_PATHS:
            await _deny(send, 403, "the scrape credential only reads /metrics, /probe and "
                                   "/api/v1/sd/prometheus")
            return
        if principal.kind is CredentialKind.WEBHOOK and path not in WEBHOOK_PATHS:
            await _deny(send, 403, "the webhook token only delivers alerts to /api/v1/alerts")
            return
        scope.setdefault("state", {})[_STATE_KEY] = principal
        await self.app(scope, receive, send)


async def _deny(send: Send, status_code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status_code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="kentongan"'))
    await send({"type": "http.response.start", "status": status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def scrape_access(*, anonymous_when_public: bool) -> Callable[..., Awaitable[Principal | None]]:
    """A dependency for the scrape endpoints: the scrape credential or an API token with
    role viewer or above; anonymous only when ``anonymous_when_public`` and
    ``settings.public_readiness``."""

    async def dependency(request: Request, credentials: BearerDep) -> Principal | None:
        principal = _gated(request)
        if principal is None:
            if anonymous_when_public and request.app.state.settings.public_readiness:
                return None
            raise _unauthorized("authentication required: use the scrape credential or an "
                                "API token with role viewer or above")
        if principal.kind is CredentialKind.SCRAPE or (
            principal.kind is CredentialKind.API and principal.role.allows(Role.VIEWER)
        ):
            return principal
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                            detail="this needs the scrape credential or role viewer or above")

    return dependency


MetricsReaderDep = Annotated[Principal | None, Depends(scrape_access(anonymous_when_public=True))]
ScrapeDep = Annotated[Principal | None, Depends(scrape_access(anonymous_when_public=False))]
