"""Inventory read routes: filters, pagination, topology, and who may read what."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.auth import Role, create_token
from core.settings import Settings
from inventory.importer import import_paths
from kentongan.app import create_app
from tests.inventory.conftest import REGIONS, SAMPLE


@pytest.fixture
def client(engine: Engine, sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with Session(engine) as session:
        import_paths(session, [REGIONS, SAMPLE])
        _, token = create_token(session, "pm-glagah", Role.VIEWER)
        session.commit()
    app = create_app(Settings(database_url=sqlite_url, run_poller=False))
    with TestClient(app) as c:
        yield c, {"Authorization": f"Bearer {token}"}


def test_sites_filtered_by_district_and_paged(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    page = c.get(
        "/api/v1/sites", params={"district": "35.10.15", "kind": "village_office", "limit": 3}
    ).json()
    assert page["total"] == 8  # Glagah: 10 villages, 2 of them kelurahan
    assert len(page["items"]) == 3
    assert all(s["district_code"] == "35.10.15" for s in page["items"])
    rest = c.get(
        "/api/v1/sites",
        params={"district": "35.10.15", "kind": "village_office", "limit": 3, "offset": 6},
    ).json()
    assert len(rest["items"]) == 2


def test_site_detail_has_facilities_and_upstream(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    site = c.get("/api/v1/sites/kantor-desa-kemiren").json()
    assert site["village_code"] == "35.10.15.2004"
    assert site["upstream_links"] == ["fo-glagah-kemiren", "fo-noc-glagah"]
    assert {f["facility"] for f in site["facilities"]} >= {"reading_corner", "lactation_room"}
    assert site["facilities"][0]["attested_by"] == "Survei Diskominfo Banyuwangi"
    assert "kiosk-kemiren-1" in site["devices"]
    assert c.get("/api/v1/sites/nope").status_code == 404


def test_devices_and_links_need_a_token(client: tuple[TestClient, dict[str, str]]) -> None:
    c, auth = client
    assert c.get("/api/v1/devices").status_code == 401
    assert c.get("/api/v1/links").status_code == 401
    devices = c.get("/api/v1/devices", params={"village": "35.10.15.2004"}, headers=auth).json()
    assert {d["role"] for d in devices["items"]} == {"ont", "router", "ups", "kiosk"}
    kiosk = c.get("/api/v1/devices/kiosk-kemiren-1", headers=auth).json()
    assert kiosk["upstream"][:2] == ["device:rtr-kemiren", "device:ont-kemiren"]
    links = c.get("/api/v1/links", params={"device": "olt-glagah"}, headers=auth).json()
    assert "fo-glagah-kemiren" in {x["id"] for x in links["items"]}


def test_bad_query_parameters_are_422(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    assert c.get("/api/v1/sites", params={"district": "glagah"}).status_code == 422
    assert c.get("/api/v1/sites", params={"limit": 0}).status_code == 422
    assert c.get("/api/v1/regions", params={"level": "planet"}).status_code == 422
