"""Access control: the whole role × route matrix (read from the app's own routes, so a new
write route without a role fails here), 401/403 messages, tokens hashed and never shown."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth import Role
from api.models import ApiToken, AuditEntry
from core.settings import Settings
from inventory.db import session_scope
from kentongan.app import create_app
from tests.api.conftest import KEMIREN, ApiEnv

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
ROLES: list[Role | None] = [None, *Role]
#: Write routes that check the caller inside the handler instead of through require_role
#: (the Alertmanager webhook also accepts its own webhook token): the role they demand.
INLINE_AUTH = {("POST", "/api/v1/alerts"): Role.ENGINEER}
#: Modules whose routes this suite may call with a sufficient role (they do nothing with {}).
OWN_MODULES = ("api.routes.readiness", "api.routes.auth", "api.routes.inventory_write")
READINESS_READS = ("/api/v1/readiness", "/api/v1/readiness/villages", "/api/v1/readiness.csv",
                   f"/api/v1/readiness/villages/{KEMIREN}", "/")


@dataclass(frozen=True, slots=True)
class RouteInfo:
    method: str
    path: str
    module: str
    required: Role | None


def _required_role(route: APIRoute) -> Role | None:
    found: list[Role] = []

    def walk(dependant: object) -> None:
        for dep in getattr(dependant, "dependencies", []):
            role = getattr(dep.call, "required_role", None)
            if role is not None:
                found.append(role)
            walk(dep)

    walk(route.dependant)
    return max(found, key=lambda r: r.rank) if found else None


def app_routes(app: object) -> Iterator[RouteInfo]:
    for rc in iter_route_contexts(app.router.routes):  # type: ignore[attr-defined]
        route = rc.original_route
        if not isinstance(route, APIRoute):
            continue
        for method in sorted(rc.methods or ()):
            if method == "HEAD":
                continue
            yield RouteInfo(method, str(rc.path), route.endpoint.__module__,
                            _required_role(route) or INLINE_AUTH.get((method, str(rc.path))))


def _url(path: str) -> str:
    # ids that exist nowhere: the matrix must not revoke its own tokens
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1) == "token_id" else "x", path)


def test_every_write_route_needs_a_role(api_env: ApiEnv) -> None:
    writes = [r for r in app_routes(api_env.app) if r.method in WRITE_METHODS]
    assert len(writes) >= 9, writes
    unguarded = [f"{r.method} {r.path} ({r.module})" for r in writes if r.required is None]
    assert not unguarded, f"write routes without require_role: {unguarded}"


def test_role_by_route_matrix(api_env: ApiEnv) -> None:
    """Below the required role: 401 (anonymous, with WWW-Authenticate) or 403 (naming the role
    needed); at or above it: neither."""
    problems: list[str] = []
    checked = 0
    for r in app_routes(api_env.app):
        if r.required is None:
            continue
        for role in ROLES:
            allowed = role is not None and role.allows(r.required)
            if allowed and not r.module.startswith(OWN_MODULES):
                continue
            resp = api_env.client.request(r.method, _url(r.path), headers=api_env.headers(role),
                                          json={} if r.method in WRITE_METHODS else None)
            checked += 1
            where = f"{r.method} {r.path} as {role}"
            if role is None:
                if resp.status_code != 401 or "bearer" not in resp.headers.get(
                        "www-authenticate", "").lower():
                    problems.append(f"{where}: {resp.status_code}, want 401 + WWW-Authenticate")
            elif not allowed:
                if resp.status_code != 403:
                    problems.append(f"{where}: {resp.status_code}, want 403")
                elif r.required.value not in resp.text:
                    problems.append(f"{where}: 403 without naming role {r.required}")
            elif resp.status_code in (401, 403):
                problems.append(f"{where}: {resp.status_code}, want access")
    assert checked > 40
    assert not problems, "\n".join(problems)


def test_expected_roles_of_our_routes(api_env: ApiEnv) -> None:
    roles = {(r.method, r.path): r.required for r in app_routes(api_env.app)}
    assert roles[("PUT", "/api/v1/sites/{site_id}/facilities/{facility}")] is Role.TECHNICIAN
    assert roles[("POST", "/api/v1/sites")] is Role.ENGINEER
    assert roles[("PATCH", "/api/v1/devices/{device_id}")] is Role.ENGINEER
    assert roles[("GET", "/api/v1/audit")] is Role.ADMIN
    assert roles[("POST", "/api/v1/tokens")] is Role.ADMIN
    assert roles[("GET", "/api/v1/readiness/villages")] is None


def test_readiness_is_public_by_default(api_env: ApiEnv) -> None:
    for path in READINESS_READS:
        assert api_env.client.get(path).status_code == 200, path


def test_readiness_needs_a_viewer_when_not_public(api_env: ApiEnv) -> None:
    app = create_app(Settings(database_url=api_env.url, run_poller=False,
                              public_readiness=False, readiness_cache_seconds=0))
    with TestClient(app) as client:
        for path in READINESS_READS:
            anon = client.get(path)
            assert anon.status_code == 401, path
            assert anon.headers["www-authenticate"].lower().startswith("bearer")
            assert "viewer" in anon.json()["detail"]
            ok = client.get(path, headers=api_env.headers(Role.VIEWER))
            assert ok.status_code == 200, path


def test_bad_tokens_are_401_with_clear_messages(api_env: ApiEnv) -> None:
    c = api_env.client
    r = c.get("/api/v1/whoami", headers={"Authorization": "Bearer ktg_not-a-real-token"})
    assert r.status_code == 401 and "invalid" in r.json()["detail"]
    r = c.get("/api/v1/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401
    # a presented bad token is refused even where anonymous reads are allowed
    assert c.get("/api/v1/readiness", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = c.get("/api/v1/whoami", headers=api_env.headers(Role.TECHNICIAN))
    assert r.json() == {"name": "test-technician", "role": "technician",
                        "token_id": r.json()["token_id"]}
    r = c.post("/api/v1/sites", json={}, headers=api_env.headers(Role.TECHNICIAN))
    assert r.status_code == 403
    assert "engineer" in r.json()["detail"] and "technician" in r.json()["detail"]


def test_token_lifecycle_over_the_api_is_audited_and_never_leaks(
    fresh_env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c, admin = fresh_env.client, fresh_env.headers(Role.ADMIN)
    created = c.post("/api/v1/tokens", json={"name": "Tim Smart Kampung", "role": "viewer"},
                     headers=admin)
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["id"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listing = c.get("/api/v1/tokens", headers=admin)
    assert token not in listing.text and digest not in listing.text
    assert "Tim Smart Kampung" in listing.text
    with session_scope(fresh_env.engine) as session:
        row = session.get(ApiToken, token_id)
        assert row is not None and row.token_hash == digest
        assert token not in repr(session.execute(select(ApiToken)).all())
    assert c.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 200
    assert c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    audit = c.get("/api/v1/audit", headers=admin).json()
    actions = [e["action"] for e in audit["items"]]
    assert actions[:2] == ["token.revoke", "token.create"]
    assert audit["items"][1]["actor"] == "test-admin"
    assert token not in caplog.text and token not in c.get("/api/v1/audit", headers=admin).text
    metrics = c.get("/metrics")
    if metrics.status_code == 200:
        assert token not in metrics.text and digest not in metrics.text


def test_audit_is_admin_only_and_filterable(fresh_env: ApiEnv) -> None:
    c = fresh_env.client
    assert c.get("/api/v1/audit", headers=fresh_env.headers(Role.ENGINEER)).status_code == 403
    c.put("/api/v1/sites/kantor-desa-kemiren/facilities/lactation_room",
          json={"value": 1}, headers=fresh_env.headers(Role.TECHNICIAN))
    page = c.get("/api/v1/audit", params={"action": "facility.attest"},
                 headers=fresh_env.headers(Role.ADMIN)).json()
    assert page["total"] == 1 and page["items"][0]["actor"] == "test-technician"
    with session_scope(fresh_env.engine) as session:
        assert session.scalar(select(AuditEntry.role).where(
            AuditEntry.action == "facility.attest")) == "technician"
