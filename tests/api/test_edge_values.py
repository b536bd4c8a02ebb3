"""Edge values answer 4xx naming the field, never 5xx: huge integers in paths, years 1 and
9999 with extreme offsets, NUL and control characters, infinities; on SQLite and PostgreSQL
(where a NUL that reached a query would be a server error)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from api.auth import Role, create_token
from core.settings import Settings
from inventory.db import session_scope
from inventory.importer import import_paths
from kentongan.app import create_app
from tests.inventory.conftest import REGIONS, SMALL

BIG = str(2**70)
NUL = "a\x00b"
EARLY = "0001-01-01T00:00:00+14:00"
LATE = "9999-12-31T23:59:59-14:00"
FACILITY = "/api/v1/sites/kantor-desa-kemiren/facilities/waiting_room"

#: (method, path, query, JSON body, raw body, the field the answer must name)
CASES: list[tuple[str, str, dict[str, str], Any, bytes | None, str]] = [
    ("DELETE", f"/api/v1/tokens/{BIG}", {}, None, None, "token_id"),
    ("DELETE", f"/api/v1/tokens/-{BIG}", {}, None, None, "token_id"),
    ("GET", f"/api/v1/rollouts/{BIG}", {}, None, None, "rollout_id"),
    ("GET", "/api/v1/sites/a%00b", {}, None, None, "site_id"),
    ("GET", "/api/v1/devices/a%1bb", {}, None, None, "device_id"),
    ("GET", "/api/v1/links/a%00b", {}, None, None, "link_id"),
    ("GET", "/api/v1/readiness/villages/a%00b", {}, None, None, "code"),
    ("GET", "/api/v1/readiness/districts/a%00b", {}, None, None, "code"),
    ("GET", "/api/v1/sites", {"kind": NUL}, None, None, "kind"),
    ("GET", "/api/v1/devices", {"site": NUL}, None, None, "site"),
    ("GET", "/api/v1/devices", {"role": "\x7f"}, None, None, "role"),
    ("GET", "/api/v1/links", {"device": NUL}, None, None, "device"),
    ("GET", "/api/v1/readiness/villages", {"q": NUL}, None, None, "q"),
    ("GET", "/api/v1/audit", {"actor": NUL}, None, None, "actor"),
    ("GET", "/api/v1/audit", {"target": "x" * 300}, None, None, "target"),
    ("GET", "/api/v1/incidents", {"site": NUL}, None, None, "site"),
    ("GET", "/api/v1/incidents", {"alertname": NUL}, None, None, "alertname"),
    ("GET", "/api/v1/incidents", {"since": EARLY}, None, None, "since"),
    ("GET", "/api/v1/incidents", {"since": LATE}, None, None, "since"),
    ("GET", "/api/v1/reports/sla", {"month": "2026-10", "district": NUL}, None, None,
     "district"),
    ("GET", "/api/v1/reports/sla", {"month": "9999-12"}, None, None, "month"),
    ("GET", "/api/v1/sd/prometheus", {"role": NUL}, None, None, "role"),
    ("GET", "/api/v1/readiness/snapshot", {"on": "9999-12-31"}, None, None, "on"),
    ("GET", "/api/v1/readiness/snapshot.csv", {"on": "0001-01-01"}, None, None, "on"),
    ("PUT", FACILITY, {}, {"value": 1, "attested_at": EARLY}, None, "attested_at"),
    ("PUT", FACILITY, {}, {"value": 1, "expires_at": LATE}, None, "expires_at"),
    ("PUT", FACILITY, {}, {"value": 1, "evidence": NUL}, None, "evidence"),
    ("PUT", FACILITY, {}, {"value": 2**70}, None, "value"),
    ("POST", "/api/v1/sites", {}, {"id": "x-1", "name": NUL, "kind": "pop",
                                   "village_code": "35.10.15"}, None, "name"),
    ("POST", "/api/v1/sites", {}, None,
     b'{"id": "x-2", "name": "x", "kind": "pop", "village_code": "35.10.15", "lat": 1e999}',
     "lat"),
    ("PATCH", "/api/v1/sites/kantor-desa-kemiren", {}, {"address": "Jl.\x00"}, None, "address"),
    ("PATCH", "/api/v1/devices/rtr-kemiren", {}, {"vendor": NUL}, None, "vendor"),
    ("PATCH", "/api/v1/devices/rtr-kemiren", {}, {"snmp_profile": NUL}, None, "snmp_profile"),
    ("PATCH", "/api/v1/devices/rtr-kemiren", {}, {"snmp_port": 2**70}, None, "snmp_port"),
    ("POST", "/api/v1/devices", {}, {"id": "d-1", "site": "kantor-desa-kemiren",
                                     "role": "router", "address": "10.9.9.9", "model": NUL},
     None, "model"),
    ("POST", "/api/v1/tokens", {}, {"name": NUL, "role": "viewer"}, None, "name"),
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def edge_client(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """An app over the small inventory on each database, and an admin token."""
    from tests.support.db import migrated_engine, postgres_schema_url

    def serve(engine: Engine, url: str) -> Iterator[tuple[TestClient, str]]:
        small = tmp_path_factory.mktemp("edge") / "small.yaml"
        small.write_text(SMALL, encoding="utf-8")
        with session_scope(engine) as session:
            import_paths(session, [REGIONS, small])
            token = create_token(session, "edge-admin", Role.ADMIN)[1]
        app = create_app(Settings(database_url=url, run_poller=False,
                                  webhook_token=SecretStr("edge-webhook-token")))
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, token
        engine.dispose()

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('edge-db') / 'k.db'}"
        yield from serve(migrated_engine(url), url)
        return
    request.getfixturevalue("postgres_ready")
    with postgres_schema_url() as url:
        yield from serve(migrated_engine(url), url)


@pytest.mark.parametrize(("method", "path", "query", "body", "raw", "field"), CASES,
                         ids=[f"{c[0]} {c[1]} {c[5]}" for c in CASES])
def test_edge_value_is_a_4xx_naming_the_field(
    edge_client: tuple[TestClient, str], method: str, path: str, query: dict[str, str],
    body: Any, raw: bytes | None, field: str,
) -> None:
    client, token = edge_client
    headers = {"Authorization": f"Bearer {token}"}
    if raw is not None:
        r = client.request(method, path, params=query, content=raw,
                           headers={**headers, "Content-Type": "application/json"})
    else:
        r = client.request(method, path, params=query, json=body, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert field in r.text, r.text[:300]


def test_the_webhook_refuses_extreme_times(edge_client: tuple[TestClient, str]) -> None:
    client, _ = edge_client
    payload = {
        "version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing",
        "receiver": "kentongan", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "DeviceDown"},
                    "annotations": {}, "startsAt": EARLY, "endsAt": LATE,
                    "generatorURL": "http://127.0.0.1:9090", "fingerprint": "f00"}],
    }
    r = client.post("/api/v1/alerts", json=payload,
                    headers={"Authorization": "Bearer edge-webhook-token"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    payload["alerts"][0].update(startsAt="2026-10-01T00:00:00Z", endsAt="0001-01-01T00:00:00Z",
                                labels={"alertname": NUL})
    r = client.post("/api/v1/alerts", json=payload,
                    headers={"Authorization": "Bearer edge-webhook-token"})
    assert r.status_code < 500, (r.status_code, r.text[:300])
