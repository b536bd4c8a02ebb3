"""Hardening at the edge (issue 9, items 4, 5, 8, 10): the access gate and the scrape
credential, errors that name no file or variable, allowed_networks, the body limit (also
chunked) and the access log."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Role
from api.models import AuditEntry
from collectors.targets import AddressNotAllowed, check_allowed, parse_networks
from core.settings import Settings
from inventory.export import ansible_inventory, inventory_document
from inventory.models import Device, SnmpProfile
from inventory.schemas import SnmpProfileIn
from kentongan.app import create_app
from tests.api.conftest import ApiEnv

SCRAPE = "ktg_scrape_hardening_test_0123456789"
MIB = 1024 * 1024


@pytest.fixture
def closed_env(api_env: ApiEnv, tmp_path: Path) -> Iterator[tuple[TestClient, ApiEnv]]:
    """The sample fleet served with public readiness off and a scrape credential."""
    token_file = tmp_path / "scrape_token"
    token_file.write_text(SCRAPE + "\n")
    app = create_app(Settings(database_url=api_env.url, run_poller=False,
                              public_readiness=False, scrape_token_file=token_file))
    with TestClient(app) as client:
        yield client, api_env


ANONYMOUS_REFUSED = ["/", "/villages", "/api/v1/readiness", "/api/v1/incidents",
                     "/api/v1/devices", "/metrics", "/api/v1/sd/prometheus",
                     "/probe?target=x&module=snmp", "/docs", "/openapi.json",
                     "/api/v1/reports/sla?month=2026-11", "/no-such-page"]


def test_only_healthz_answers_anonymously_when_not_public(
    closed_env: tuple[TestClient, ApiEnv],
) -> None:
    client, _env = closed_env
    assert client.get("/healthz").json()["status"] == "ok"
    for path in ANONYMOUS_REFUSED:
        r = client.get(path)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
        assert r.headers["www-authenticate"].lower().startswith("bearer")
    assert client.post("/api/v1/sites", json={}).status_code == 401


def test_scrape_credential_reads_only_the_scrape_endpoints(
    closed_env: tuple[TestClient, ApiEnv],
) -> None:
    client, env = closed_env
    scrape = {"Authorization": f"Bearer {SCRAPE}"}
    assert client.get("/metrics", headers=scrape).status_code == 200
    groups = client.get("/api/v1/sd/prometheus", headers=scrape)
    assert groups.status_code == 200 and groups.json()
    assert client.get("/probe?target=nope&module=snmp", headers=scrape).status_code == 404
    for path in ("/api/v1/devices", "/api/v1/readiness", "/", "/api/v1/incidents"):
        r = client.get(path, headers=scrape)
        assert r.status_code == 403, (path, r.text)
        assert "scrape credential" in r.json()["detail"]
    wrong = {"Authorization": f"Bearer {SCRAPE}x"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    viewer = env.headers(Role.VIEWER)
    assert client.get("/api/v1/sd/prometheus", headers=viewer).status_code == 200
    assert client.get("/metrics", headers=viewer).status_code == 200


def test_management_addresses_need_a_credential_even_when_public(api_env: ApiEnv) -> None:
    client = api_env.client
    assert client.get("/metrics").status_code == 200  # readiness is public here
    assert client.get("/api/v1/sd/prometheus").status_code == 401
    assert client.get("/probe?target=x&module=snmp").status_code == 401
    sd = client.get("/api/v1/sd/prometheus", headers=api_env.headers(Role.VIEWER)).json()
    assert any("__meta_kentongan_address" in g["labels"] for g in sd)


def _device(env: ApiEnv, profile: str) -> str:
    with Session(env.engine) as session:
        return session.scalars(select(Device.id).where(Device.snmp_profile == profile)
                               .where(Device.enabled.is_(True)).order_by(Device.id)).first()


def test_probe_errors_name_no_variable_or_file(
    api_env: ApiEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("KTG_SNMP_COMMUNITY", raising=False)
    device = _device(api_env, "public-v2")
    assert device, "the sample has a device on public-v2"
    with caplog.at_level(logging.ERROR):
        r = api_env.client.get(f"/probe?target={device}&module=snmp",
                               headers=api_env.headers(Role.VIEWER))
    assert r.status_code == 503, r.text
    assert "credential unavailable" in r.text
    assert "KTG_" not in r.text and "environment" not in r.text and "/" not in r.text
    assert "KTG_SNMP_COMMUNITY" in caplog.text  # the operator still learns what to fix


def test_a_device_moved_outside_its_profiles_networks_gets_no_secret(
    fresh_env: ApiEnv, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attack: an engineer points a device at their own listener to harvest the
    community. The probe is refused before anything is sent; the change is audited."""
    monkeypatch.setenv("KTG_SNMP_COMMUNITY", "s3cret-community")
    device = _device(fresh_env, "public-v2")
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(1.5)
    port = listener.getsockname()[1]
    try:
        with Session(fresh_env.engine) as session:
            old = session.get(Device, device)
            assert old is not None
            old_address, old_port = old.address, old.snmp_port
        r = fresh_env.client.patch(f"/api/v1/devices/{device}",
                                   json={"address": "127.0.0.1", "snmp_port": port},
                                   headers=fresh_env.headers(Role.ENGINEER))
        assert r.status_code == 200, r.text
        with caplog.at_level(logging.WARNING):
            probe = fresh_env.client.get(f"/probe?target={device}&module=snmp",
                                         headers=fresh_env.headers(Role.VIEWER))
        assert probe.status_code == 403, probe.text
        assert "allowed_networks" in probe.text and "s3cret" not in probe.text
        assert "outside the allowed_networks" in caplog.text
        with pytest.raises(TimeoutError):
            listener.recvfrom(4096)  # nothing was sent to the new address
    finally:
        listener.close()
    with Session(fresh_env.engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.target == f"device:{device}")
                                .order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.actor == "test-engineer"
    changes = entry.details["changes"]
    assert changes["address"] == {"from": old_address, "to": "127.0.0.1"}
    assert changes["snmp_port"] == {"from": old_port, "to": port}
    assert entry.details["credential_destination_changed"] == ["address", "snmp_port"]


def test_allowed_networks_checks() -> None:
    nets = parse_networks(["10.35.0.0/16", "fd00::/8"])
    check_allowed("10.35.4.1", nets, device="d", profile="p")
    check_allowed("fd00::1", nets, device="d", profile="p")
    check_allowed("192.0.2.1", (), device="d", profile="p")  # no networks: anywhere
    for address in ("10.36.0.1", "127.0.0.1", "kiosk.example", "::ffff:10.35.0.1"):
        with pytest.raises(AddressNotAllowed, match="profile p"):
            check_allowed(address, nets, device="d", profile="p")


def test_allowed_networks_in_the_inventory_file() -> None:
    ok = SnmpProfileIn.model_validate({"name": "v2", "version": "2c", "community_env": "X",
                                       "allowed_networks": "10.35.0.0/16, 10.36.0.0/16"})
    assert ok.allowed_networks == ["10.35.0.0/16", "10.36.0.0/16"]
    with pytest.raises(ValidationError, match=r"allowed_networks: '10.35.0.1/16'"):
        SnmpProfileIn.model_validate({"name": "v2", "version": "2c", "community_env": "X",
                                      "allowed_networks": ["10.35.0.1/16"]})
    with pytest.raises(ValidationError, match="allowed_networks"):
        SnmpProfileIn.model_validate({"name": "v2", "version": "2c", "community_env": "X",
                                      "allowed_networks": ["everywhere"]})


def test_sample_profiles_declare_networks_and_export_keeps_them(api_env: ApiEnv) -> None:
    with Session(api_env.engine) as session:
        profiles = list(session.scalars(select(SnmpProfile)))
        assert profiles and all(p.allowed_networks == ["10.0.0.0/8"] for p in profiles)
        doc = inventory_document(session)
    assert doc["credentials"]["snmp"]["public-v2"]["allowed_networks"] == ["10.0.0.0/8"]
    assert doc["credentials"]["ssh"]["kiosk"]["allowed_networks"] == ["10.0.0.0/8"]


def test_ansible_inventory_leaves_out_credentials_outside_the_networks(
    fresh_env: ApiEnv,
) -> None:
    with Session(fresh_env.engine) as session:
        kiosk = session.scalars(select(Device).where(Device.ssh_profile == "kiosk")
                                .order_by(Device.id)).first()
        assert kiosk is not None
        kiosk.address = "192.0.2.10"
        session.commit()
        hostvars = ansible_inventory(session)["_meta"]["hostvars"]
    assert "ansible_ssh_private_key_file" not in hostvars[kiosk.id]
    assert "allowed_networks" in hostvars[kiosk.id]["kentongan_refused"]
    others = [hv for k, hv in hostvars.items() if k != kiosk.id and "ansible_user" in hv]
    assert others, "kiosks inside the networks keep their credentials"


def test_rollout_refuses_a_kiosk_outside_the_networks(fresh_env: ApiEnv) -> None:
    from playbooks.errors import TargetError
    from playbooks.targets import TargetFilter, select_targets

    with Session(fresh_env.engine) as session:
        kiosk = session.scalars(select(Device).where(Device.ssh_profile == "kiosk")
                                .order_by(Device.id)).first()
        assert kiosk is not None
        assert select_targets(session, TargetFilter(devices=(kiosk.id,)))  # inside: fine
        kiosk.address = "192.0.2.10"
        session.commit()
        with pytest.raises(TargetError, match="outside the allowed_networks of SSH profile"):
            select_targets(session, TargetFilter(devices=(kiosk.id,)))


def test_body_limit_before_authentication(api_env: ApiEnv) -> None:
    client = api_env.client
    big = b"{" + b" " * MIB + b"}"
    r = client.post("/api/v1/sites", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text  # not 401: refused before authentication
    assert "limit" in r.json()["detail"]
    small = client.post("/api/v1/sites", json={})
    assert small.status_code == 401


def test_body_limit_counts_chunked_bodies(api_env: ApiEnv) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    r = api_env.client.post("/api/v1/sites", content=chunks(),
                            headers={"content-type": "application/json",
                                     **api_env.headers(Role.ENGINEER)})
    assert r.status_code == 413, r.text
    assert "content-length" not in r.request.headers  # really chunked


def test_webhook_route_has_its_larger_limit(api_env: ApiEnv) -> None:
    body = b"[" + b" " * (2 * MIB) + b"]"
    r = api_env.client.post("/api/v1/alerts", content=body,
                            headers={"content-type": "application/json"})
    assert r.status_code == 401  # past the 1 MiB default: the webhook allows 4 MiB
    r = api_env.client.post("/api/v1/alerts", content=b" " * (5 * MIB),
                            headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_access_log_has_who_and_what_but_no_secret(
    api_env: ApiEnv, caplog: pytest.LogCaptureFixture,
) -> None:
    token = api_env.tokens[Role.VIEWER]
    with caplog.at_level(logging.INFO, logger="kentongan.access"):
        api_env.client.get("/api/v1/devices?limit=2&token=hunter2&api_key=abc123",
                           headers={"Authorization": f"Bearer {token}",
                                    "Cookie": "session=cookie-secret-value"})
        api_env.client.get("/healthz")
        api_env.client.get("/api/v1/devices", headers={"Authorization": "Bearer ktg_wrong"})
    lines = [r.getMessage() for r in caplog.records if r.name == "kentongan.access"]
    assert len(lines) == 3, lines
    assert "test-viewer" in lines[0] and '"GET /api/v1/devices?limit=2&token=%5Bredacted%5D' \
        in lines[0] and " 200 " in lines[0] and lines[0].endswith("ms")
    assert " - " in lines[1] and "/healthz" in lines[1]
    assert " 401 " in lines[2]
    text = caplog.text
    for secret in (token, "hunter2", "abc123", "cookie-secret-value", "ktg_wrong"):
        assert secret not in text


def test_probe_over_its_limit_is_told_to_retry(api_env: ApiEnv) -> None:
    limiter = api_env.app.state.probe_limiter
    limiter.active = limiter.limit
    try:
        r = api_env.client.get("/probe?target=x&module=snmp",
                               headers=api_env.headers(Role.VIEWER))
    finally:
        limiter.active = 0
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
