"""``/api/v1/rollouts``: technicians start rollouts, viewers read them; bad input is a 400
with nothing written; every start is audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.auth import Role, create_token
from api.models import AuditEntry
from core.settings import Settings
from inventory.db import session_scope
from kentongan.app import create_app
from playbooks.models import Rollout
from tests.playbooks.conftest import add_kiosks
from tests.playbooks.kiosks import KioskFleet


@pytest.fixture(scope="module")
def keys_only_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """Keys and known_hosts for inventory rows; no sshd (these tests do not connect)."""
    with KioskFleet(tmp_path_factory.mktemp("apifleet"), ["127.0.3.21", "127.0.3.22"]) as f:
        yield f


@pytest.fixture
def client(
    engine: Engine, sqlite_url: str, keys_only_fleet: KioskFleet, releases: Path
) -> Iterator[tuple[TestClient, dict[Role, str], Engine]]:
    add_kiosks(engine, keys_only_fleet)
    tokens = {}
    with session_scope(engine) as session:
        for role in (Role.VIEWER, Role.TECHNICIAN):
            _row, tokens[role] = create_token(session, f"test-{role.value}", role)
    settings = Settings(database_url=sqlite_url, run_poller=False, release_dir=releases)
    with TestClient(create_app(settings)) as test_client:
        yield test_client, tokens, engine


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_technician_starts_viewer_reads(client: tuple[TestClient, dict[Role, str], Engine]) -> None:
    http, tokens, engine = client
    body = {"version": "1.0.0", "devices": ["kiosk-1", "kiosk-2"], "canary": 1, "batch": "1",
            "max_fail": 0, "run": False}
    assert http.post("/api/v1/rollouts", json=body).status_code == 401
    assert http.post("/api/v1/rollouts", json=body,
                     headers=_auth(tokens[Role.VIEWER])).status_code == 403
    created = http.post("/api/v1/rollouts", json=body, headers=_auth(tokens[Role.TECHNICIAN]))
    assert created.status_code == 202, created.text
    detail = created.json()
    assert detail["version"] == "1.0.0" and detail["status"] == "pending"
    assert detail["created_by"] == "api:test-technician"
    assert [(h["device_id"], h["batch"], h["state"]) for h in detail["hosts"]] == [
        ("kiosk-1", 0, "pending"),
        ("kiosk-2", 1, "pending"),
    ]
    assert "key_file" not in created.text and "id_ed25519" not in created.text

    viewer = _auth(tokens[Role.VIEWER])
    listing = http.get("/api/v1/rollouts", headers=viewer)
    assert listing.status_code == 200
    assert [(r["id"], r["counts"]) for r in listing.json()] == [(detail["id"], {"pending": 2})]
    assert http.get("/api/v1/rollouts", params={"status": "halted"},
                    headers=viewer).json() == []
    one = http.get(f"/api/v1/rollouts/{detail['id']}", headers=viewer)
    assert one.status_code == 200 and len(one.json()["hosts"]) == 2
    assert http.get("/api/v1/rollouts/9999", headers=viewer).status_code == 404
    assert http.get("/api/v1/rollouts").status_code == 401
    with session_scope(engine) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "rollout.start" in actions


def test_bad_input_is_400_and_writes_nothing(
    client: tuple[TestClient, dict[Role, str], Engine]
) -> None:
    http, tokens, engine = client
    tech = _auth(tokens[Role.TECHNICIAN])
    for body, message in (
        ({"version": "4.0.4", "devices": ["kiosk-1"]}, "unknown release"),
        ({"version": "1.0.0", "district": "35.10.99"}, "no enabled device matches"),
        ({"version": "1.0.0", "devices": ["kiosk-1"], "sha256": "0" * 64}, "checksum mismatch"),
    ):
        response = http.post("/api/v1/rollouts", json=body | {"run": False}, headers=tech)
        assert response.status_code == 400, response.text
        assert message in response.json()["detail"]
    for body in (
        {"version": "1.0.0", "batch": "lots"},
        {"version": "1.0.0", "district": "35.10.15; rm -rf /"},
        {"version": "1.0.0", "extra_vars": {"ansible_host": "evil"}},
    ):
        assert http.post("/api/v1/rollouts", json=body, headers=tech).status_code == 422
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0
