"""``/probe`` strict validation and ``/api/v1/sd/prometheus`` labels; maintenance windows on
``/metrics``; root cause over the fibre tree (pure functions)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from alerts.rootcause import CauseKind, area_outages, common_upstream, device_cause
from core.timeutil import WIB, utcnow
from inventory.models import MaintenanceWindow
from inventory.topology import Topology


@pytest.mark.parametrize(("query", "status", "text"), [
    ("", 400, "'target' is missing"),
    ("target=rtr-kemiren", 400, "'module' is missing"),
    ("module=snmp", 400, "'target' is missing"),
    ("target=&module=snmp", 400, "'target' is missing or empty"),
    ("target=rtr-kemiren&module=snmp&target=olt-noc", 400, "more than once"),
    ("target=rtr-kemiren&module=snmp&module=snmp", 400, "more than once"),
    ("target=rtr-kemiren&module=icmp", 400, "unknown module 'icmp'"),
    ("target=rtr-kemiren&module=snmp&debug=1", 400, "unknown parameter 'debug'"),
    ("target=rtr-nowhere&module=snmp", 404, "unknown device 'rtr-nowhere'"),
    ("target=rtr-kemiren&module=snmp", 400, "has no SNMP profile"),
])
def test_probe_validation(client: TestClient, scrape_headers: dict[str, str], query: str,
                          status: int, text: str) -> None:
    r = client.get(f"/probe?{query}", headers=scrape_headers)
    assert r.status_code == status, r.text
    assert text in r.text


def test_http_sd_groups_carry_the_fibre_path(client: TestClient,
                                             scrape_headers: dict[str, str]) -> None:
    client.headers.update(scrape_headers)
    groups = client.get("/api/v1/sd/prometheus").json()
    by_target = {g["targets"][0]: g["labels"] for g in groups}
    assert len(by_target) == 15
    kiosk = by_target["kiosk-kemiren-1"]
    assert kiosk["site"] == "kantor-desa-kemiren" and kiosk["district_code"] == "35.10.15"
    assert kiosk["upstream_1"] == "fo-core-glagah" and kiosk["upstream_2"] == "fo-glagah-kemiren"
    assert kiosk["uplink"] == "fo-glagah-kemiren"
    assert "upstream_1" not in by_target["olt-noc"]
    assert all(isinstance(v, str) for labels in by_target.values() for v in labels.values())
    only = client.get("/api/v1/sd/prometheus", params={"district": "35.10.13"}).json()
    assert {g["targets"][0] for g in only} == {"rtr-rogojampi", "ups-rogojampi",
                                               "kiosk-rogojampi-1"}


def _maintenance(text: str) -> dict[str, float]:
    return {s.labels["device"]: s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "kentongan_maintenance"}


def test_maintenance_windows_on_metrics(client: TestClient, seeded: Engine) -> None:
    now = utcnow()
    began = now.astimezone(WIB) - timedelta(minutes=10)
    today, start = began.strftime("%a").lower()[:3], began.strftime("%H:%M")
    with seeded.begin() as conn:
        for row in [
            {"id": "one-off", "scope": "device", "target": "rtr-rogojampi",
             "starts_at": now - timedelta(minutes=5), "ends_at": now + timedelta(hours=1)},
            {"id": "weekly", "scope": "site", "target": "kantor-desa-kemiren",
             "weekdays": today, "start_time": start, "duration_minutes": 60},
            {"id": "past", "scope": "district", "target": "35.10.15",
             "starts_at": now - timedelta(days=2), "ends_at": now - timedelta(days=1)},
        ]:
            conn.execute(insert(MaintenanceWindow).values(**row))
    flags = _maintenance(client.get("/metrics").text)
    assert flags["rtr-rogojampi"] == 1 and flags["kiosk-rogojampi-1"] == 0
    assert flags["rtr-kemiren"] == 1 and flags["kiosk-kemiren-1"] == 1
    assert flags["rtr-olehsari"] == 0 and len(flags) == 15


def test_root_cause_pure_functions(seeded: Engine) -> None:
    with Session(seeded) as session:
        topo = Topology.load(session)
    down = ["rtr-kemiren", "kiosk-olehsari-1", "ups-banjarsari", "rtr-rogojampi"]
    assert area_outages(topo, down) == {
        "fo-core-glagah": {"kantor-desa-kemiren", "kantor-desa-olehsari",
                           "kantor-kel-banjarsari"}}
    assert area_outages(topo, ["rtr-kemiren", "rtr-rogojampi"]) == {}
    assert common_upstream(topo, ["kantor-desa-kemiren", "kantor-desa-olehsari"],
                           min_sites=3) == {}
    cut = device_cause(topo, "kiosk-kemiren-1", down_links={"fo-core-glagah",
                                                            "fo-glagah-kemiren"})
    assert (cut.kind, cut.subject) == (CauseKind.LINK, "fo-core-glagah")
    gateway = device_cause(topo, "kiosk-kemiren-1", down_devices={"rtr-kemiren"})
    assert (gateway.kind, gateway.subject) == (CauseKind.DEVICE, "rtr-kemiren")
    power = device_cause(topo, "rtr-kemiren", on_battery_sites={"kantor-desa-kemiren"})
    assert (power.kind, power.text) == (CauseKind.POWER, "power:kantor-desa-kemiren")
    own = device_cause(topo, "rtr-kemiren")
    assert own.text == "device:rtr-kemiren"
