"""Inventory writes: they change the inventory, the readiness verdict follows, and each
write is in the audit log with who, when and what changed."""

from __future__ import annotations

from datetime import timedelta

from api.auth import Role
from core.timeutil import utcnow
from tests.api.conftest import ApiEnv

KENJO = "35.10.15.2011"
KENJO_SITE = "kantor-desa-kenjo"


def test_attesting_the_missing_lactation_room_qualifies_the_village(fresh_env: ApiEnv) -> None:
    c = fresh_env.client
    before = c.get(f"/api/v1/readiness/villages/{KENJO}").json()
    assert before["verdict"] == "not_qualified"
    expires = (utcnow() + timedelta(days=365)).isoformat()
    r = c.put(f"/api/v1/sites/{KENJO_SITE}/facilities/lactation_room",
              json={"value": 1, "evidence": "foto/kenjo-laktasi.jpg", "expires_at": expires},
              headers=fresh_env.headers(Role.TECHNICIAN))
    assert r.status_code == 200, r.text
    assert r.json()["attested_by"] == "test-technician"
    after = c.get(f"/api/v1/readiness/villages/{KENJO}").json()
    assert after["verdict"] == "qualified"
    lact = next(x for x in after["checks"] if x["id"] == "facilities.lactation_room")
    assert lact["evidence"]["evidence"] == "foto/kenjo-laktasi.jpg"
    assert lact["evidence"]["attested_by"] == "test-technician"
    history = c.get(f"/api/v1/readiness/villages/{KENJO}/history").json()
    assert [h["verdict"] for h in history[:2]] == ["qualified", "not_qualified"]
    assert history[0]["previous"] == "not_qualified"
    audit = c.get("/api/v1/audit", params={"target": f"site:{KENJO_SITE}/lactation_room"},
                  headers=fresh_env.headers(Role.ADMIN)).json()
    change = audit["items"][0]["details"]["changes"]
    assert change["value"] == {"from": 0, "to": 1}
    assert change["attested_by"]["to"] == "test-technician"


def test_expired_attestation_turns_the_check_unknown(fresh_env: ApiEnv) -> None:
    c = fresh_env.client
    past = utcnow() - timedelta(days=10)
    r = c.put("/api/v1/sites/kantor-desa-kemiren/facilities/reading_corner",
              json={"value": 1, "attested_at": (past - timedelta(days=30)).isoformat(),
                    "expires_at": past.isoformat()},
              headers=fresh_env.headers(Role.TECHNICIAN))
    assert r.status_code == 200
    body = c.get("/api/v1/readiness/villages/35.10.15.2004").json()
    assert body["verdict"] == "unknown"
    corner = next(x for x in body["checks"] if x["id"] == "facilities.reading_corner")
    assert corner["status"] == "unknown" and "expired" in corner["reason"]["en"]


def test_facility_validation(fresh_env: ApiEnv) -> None:
    c, h = fresh_env.client, fresh_env.headers(Role.TECHNICIAN)
    base = "/api/v1/sites/kantor-desa-kemiren/facilities"
    assert c.put(f"{base}/lactation_room", json={"value": 2}, headers=h).status_code == 422
    assert c.put(f"{base}/operators_trained", json={"value": 3}, headers=h).status_code == 200
    assert c.put(f"{base}/sauna", json={"value": 1}, headers=h).status_code == 422
    assert c.put("/api/v1/sites/no-such-site/facilities/waiting_room", json={"value": 1},
                 headers=h).status_code == 404
    now = utcnow()
    bad = {"value": 1, "attested_at": now.isoformat(),
           "expires_at": (now - timedelta(days=1)).isoformat()}
    assert c.put(f"{base}/waiting_room", json=bad, headers=h).status_code == 422
    assert c.put(f"{base}/waiting_room", json={"value": 1, "x": 1}, headers=h).status_code == 422
    eng = fresh_env.headers(Role.ENGINEER)
    assert c.delete(f"{base}/waiting_room", headers=eng).status_code == 204
    assert c.delete(f"{base}/waiting_room", headers=eng).status_code == 404


def test_sites_and_devices_create_update_delete_audited(fresh_env: ApiEnv) -> None:
    c, h = fresh_env.client, fresh_env.headers(Role.ENGINEER)
    site = {"id": "kantor-desa-kemiren-2", "name": "Balai Desa Kemiren", "kind": "health_site",
            "village_code": "35.10.15.2004", "lat": -8.2, "lon": 114.3}
    r = c.post("/api/v1/sites", json=site, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["district_code"] == "35.10.15"
    assert c.post("/api/v1/sites", json=site, headers=h).status_code == 409
    assert c.post("/api/v1/sites", json={**site, "id": "x-1", "village_code": "35.10.99.9999"},
                  headers=h).status_code == 409
    r = c.patch("/api/v1/sites/kantor-desa-kemiren-2", json={"name": "Polindes Kemiren"},
                headers=h)
    assert r.status_code == 200 and r.json()["name"] == "Polindes Kemiren"
    dev = {"id": "kiosk-kemiren-2", "site": "kantor-desa-kemiren", "role": "kiosk",
           "address": "10.35.5.11", "ssh_profile": "kiosk"}
    r = c.post("/api/v1/devices", json=dev, headers=h)
    assert r.status_code == 201, r.text
    assert c.post("/api/v1/devices", json={**dev, "id": "k-3", "address": "not-an-ip"},
                  headers=h).status_code == 422
    assert c.post("/api/v1/devices", json={**dev, "id": "k-4", "ssh_profile": "nope"},
                  headers=h).status_code == 409
    r = c.patch("/api/v1/devices/kiosk-kemiren-2", json={"address": "10.35.5.12"}, headers=h)
    assert r.status_code == 200 and r.json()["address"] == "10.35.5.12"
    kiosks = c.get("/api/v1/readiness/villages/35.10.15.2004").json()
    online = next(x for x in kiosks["checks"] if x["id"] == "kiosk.online")
    assert {k["device"] for k in online["evidence"]["kiosks"]} == {"kiosk-kemiren-1",
                                                                  "kiosk-kemiren-2"}
    assert c.delete("/api/v1/devices/ont-kemiren", headers=h).status_code == 409
    assert c.delete("/api/v1/devices/kiosk-kemiren-2", headers=h).status_code == 204
    audit = c.get("/api/v1/audit", headers=fresh_env.headers(Role.ADMIN)).json()["items"]
    actions = [(e["action"], e["target"], e["actor"]) for e in audit]
    assert actions[:5] == [
        ("device.delete", "device:kiosk-kemiren-2", "test-engineer"),
        ("device.update", "device:kiosk-kemiren-2", "test-engineer"),
        ("device.create", "device:kiosk-kemiren-2", "test-engineer"),
        ("site.update", "site:kantor-desa-kemiren-2", "test-engineer"),
        ("site.create", "site:kantor-desa-kemiren-2", "test-engineer"),
    ]
    assert audit[1]["details"]["changes"] == {"address": {"from": "10.35.5.11",
                                                          "to": "10.35.5.12"}}
    assert audit[0]["at"]
