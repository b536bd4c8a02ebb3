"""The Alertmanager webhook receiver and incidents: auth, idempotency, bad input refused
whole, replays refused, filters, and area root cause."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from alerts.models import Incident
from tests.alerts.conftest import WEBHOOK_TOKEN

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
T0 = "2026-11-22T10:00:00.123456789Z"


def alert(device: str | None = "rtr-kemiren", *, name: str = "DeviceDown",
          status: str = "firing", fp: str | None = None, starts: str = T0,
          ends: str = "0001-01-01T00:00:00Z", **labels: str) -> dict[str, Any]:
    lab = {"alertname": name, "severity": "critical", **labels}
    if device:
        lab["device"] = device
    return {
        "status": status, "labels": lab,
        "annotations": {"summary": f"{device} is down", "summary_id": f"{device} mati"},
        "startsAt": starts, "endsAt": ends,
        "generatorURL": "http://prometheus/graph", "fingerprint": fp or f"fp{device}{name}",
    }


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4", "groupKey": "{}:{alertname=\"DeviceDown\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "kentongan", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager", "alerts": list(alerts),
    }


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with Session(engine) as s:
        return [(i.id, i.status, i.ends_at, i.probable_cause, i.updated_at)
                for i in s.scalars(select(Incident).order_by(Incident.id))]


def test_needs_a_valid_bearer_token(client: TestClient, seeded: Engine) -> None:
    assert client.post("/api/v1/alerts", json=payload(alert())).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    r = client.post("/api/v1/alerts", json=payload(alert()), headers=bad)
    assert r.status_code == 401 and WEBHOOK_TOKEN not in r.text
    assert snapshot(seeded) == []


def test_open_repeat_resolve_and_replay(client: TestClient, seeded: Engine) -> None:
    r = client.post("/api/v1/alerts", json=payload(alert()), headers=AUTH)
    assert r.status_code == 200 and r.json()["opened"] == 1
    incident = client.get("/api/v1/incidents").json()[0]
    assert incident["status"] == "open" and incident["site_id"] == "kantor-desa-kemiren"
    assert incident["village_code"] == "35.10.15.2004" and incident["district_code"] == "35.10.15"
    assert incident["starts_at_wib"] == "2026-11-22 17:00 WIB"
    before = snapshot(seeded)
    r = client.post("/api/v1/alerts", json=payload(alert()), headers=AUTH)
    assert r.status_code == 200 and r.json()["unchanged"] == 1
    assert snapshot(seeded) == before
    resolved = payload(alert(status="resolved", ends="2026-11-22T10:30:00Z"), status="resolved")
    r = client.post("/api/v1/alerts", json=resolved, headers=AUTH)
    assert r.status_code == 200 and r.json()["resolved"] == 1
    after_resolve = snapshot(seeded)
    assert after_resolve[0][1] == "resolved"
    # the same resolved delivery again: idempotent
    assert client.post("/api/v1/alerts", json=resolved, headers=AUTH).json()["unchanged"] == 1
    # the old firing delivery replayed after the resolve: refused, nothing changes
    r = client.post("/api/v1/alerts", json=payload(alert()), headers=AUTH)
    assert r.status_code == 409 and "replayed" in r.json()["detail"]
    assert snapshot(seeded) == after_resolve
    # a new firing of the same series (new startsAt) is a new incident
    again = payload(alert(starts="2026-11-22T11:00:00Z"))
    assert client.post("/api/v1/alerts", json=again, headers=AUTH).json()["opened"] == 1
    assert len(snapshot(seeded)) == 2


def test_bad_input_is_refused_whole(client: TestClient, seeded: Engine) -> None:
    client.post("/api/v1/alerts", json=payload(alert("rtr-olehsari")), headers=AUTH)
    before = snapshot(seeded)
    good = alert("rtr-kemiren")
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "malformed JSON"),
        (b"", 400, "malformed JSON"),
        ({**payload(good), "version": "3"}, 422, "version"),
        ({k: v for k, v in payload(good).items() if k != "alerts"}, 422, "alerts"),
        (payload(), 422, "alerts"),
        (payload(good, alert("rtr-nowhere")), 422, "unknown device 'rtr-nowhere'"),
        (payload(good, alert(None)), 422, "missing label 'device' or 'link'"),
        (payload(good, alert(link="fo-nowhere", device=None)), 422, "unknown link"),
        (payload(good, {**alert("ups-kemiren"), "labels": {"device": "ups-kemiren"}}), 422,
         "missing label 'alertname'"),
        (payload(good, alert(severity="panic")), 422, "unknown severity"),
        (payload(good, alert("rtr-kemiren")), 422, "twice"),
        (payload(alert(status="resolved")), 422, "without endsAt"),
        (payload({**good, "startsAt": "yesterday"}), 422, "startsAt"),
    ]
    for body, code, text in cases:
        if isinstance(body, bytes):
            r = client.post("/api/v1/alerts", content=body,
                            headers={**AUTH, "Content-Type": "application/json"})
        else:
            r = client.post("/api/v1/alerts", json=body, headers=AUTH)
        assert r.status_code == code, (text, r.text)
        assert text in r.text, (text, r.text)
        assert snapshot(seeded) == before, text


def test_incident_filters(client: TestClient) -> None:
    client.post("/api/v1/alerts", headers=AUTH, json=payload(
        alert("rtr-kemiren"),
        alert("kiosk-rogojampi-1", name="KioskOffline", severity="warning"),
        alert("ups-olehsari", name="UPSOnBattery", severity="warning",
              starts="2026-11-22T12:00:00Z"),
    ))
    get = lambda **q: {i["device_id"] for i in client.get("/api/v1/incidents", params=q).json()}  # noqa: E731
    assert get() == {"rtr-kemiren", "kiosk-rogojampi-1", "ups-olehsari"}
    assert get(district="35.10.13") == {"kiosk-rogojampi-1"}
    assert get(village="35.10.15.2005") == {"ups-olehsari"}
    assert get(site="kantor-desa-kemiren") == {"rtr-kemiren"}
    assert get(device="rtr-kemiren") == {"rtr-kemiren"}
    assert get(severity="warning") == {"kiosk-rogojampi-1", "ups-olehsari"}
    assert get(since="2026-11-22T11:00:00Z") == {"ups-olehsari"}
    assert get(status="resolved") == set()
    assert client.get("/api/v1/incidents", params={"status": "nope"}).status_code == 422


def test_area_outage_names_the_common_upstream_link(client: TestClient, seeded: Engine) -> None:
    devices = ["rtr-kemiren", "rtr-olehsari", "rtr-banjarsari", "rtr-rogojampi"]
    r = client.post("/api/v1/alerts", headers=AUTH, json=payload(*[alert(d) for d in devices]))
    assert r.status_code == 200
    rows = client.get("/api/v1/incidents", params={"status": "open"}).json()
    area = [i for i in rows if i["alertname"] == "AreaOutage"]
    assert len(area) == 1
    assert area[0]["probable_cause"] == "fo-core-glagah"
    assert area[0]["probable_cause_kind"] == "link"
    assert "3 sites behind fo-core-glagah" in area[0]["summary"]
    causes = {i["device_id"]: i["probable_cause"] for i in rows if i["alertname"] == "DeviceDown"}
    assert causes == {"rtr-kemiren": "fo-core-glagah", "rtr-olehsari": "fo-core-glagah",
                      "rtr-banjarsari": "fo-core-glagah", "rtr-rogojampi": "rtr-rogojampi"}
    # two sites come back: the area incident resolves
    resolved = [alert(d, status="resolved", ends="2026-11-22T10:20:00Z")
                for d in ("rtr-kemiren", "rtr-olehsari")]
    client.post("/api/v1/alerts", headers=AUTH, json=payload(*resolved, status="resolved"))
    area = [i for i in client.get("/api/v1/incidents", params={"alertname": "AreaOutage"}).json()]
    assert [i["status"] for i in area] == ["resolved"]
    with Session(seeded) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 5


def test_engineer_api_token_is_accepted(client: TestClient, seeded: Engine) -> None:
    from api.auth import Role, create_token

    with Session(seeded) as s:
        _, engineer = create_token(s, "alertmanager", Role.ENGINEER)
        _, viewer = create_token(s, "dashboard", Role.VIEWER)
        s.commit()
    r = client.post("/api/v1/alerts", json=payload(alert()),
                    headers={"Authorization": f"Bearer {viewer}"})
    assert r.status_code == 403 and snapshot(seeded) == []
    r = client.post("/api/v1/alerts", json=payload(alert()),
                    headers={"Authorization": f"Bearer {engineer}"})
    assert r.status_code == 200 and r.json()["opened"] == 1
    assert engineer not in r.text


def test_flapping_power_is_one_incident_with_a_flap_count(
    client: TestClient, seeded: Engine
) -> None:
    """Mains lost and back 12 times in an hour (each loss long enough to fire): one
    incident that counts the flaps and follows the last firing; a loss after a long quiet
    spell is a new incident."""
    ups = {"device": "ups-kemiren", "name": "UPSOnBattery", "fp": "fp-ups-kemiren",
           "severity": "warning"}
    for k in range(12):
        starts = f"2026-11-22T10:{5 * k:02d}:00Z"
        ends = f"2026-11-22T10:{5 * k + 3:02d}:00Z"
        r = client.post("/api/v1/alerts", json=payload(alert(**ups, starts=starts)),
                        headers=AUTH)
        assert r.status_code == 200, r.text
        resolved = payload(alert(**ups, starts=starts, status="resolved", ends=ends),
                           status="resolved")
        assert client.post("/api/v1/alerts", json=resolved, headers=AUTH).status_code == 200
    rows = client.get("/api/v1/incidents", params={"alertname": "UPSOnBattery"}).json()
    assert len(rows) == 1, rows
    assert rows[0]["flaps"] == 11 and rows[0]["status"] == "resolved"
    assert rows[0]["starts_at"].startswith("2026-11-22T10:00:00")
    # the replay of an old firing is still refused
    old = payload(alert(**ups, starts="2026-11-22T10:25:00Z"))
    assert client.post("/api/v1/alerts", json=old, headers=AUTH).status_code == 409
    # power lost again two hours later: a new incident
    later = payload(alert(**ups, starts="2026-11-22T13:00:00Z"))
    assert client.post("/api/v1/alerts", json=later, headers=AUTH).json()["opened"] == 1
    rows = client.get("/api/v1/incidents", params={"alertname": "UPSOnBattery"}).json()
    assert len(rows) == 2 and {r["flaps"] for r in rows} == {0, 11}
    # DeviceDown is not folded: a new firing of it is a new incident (as before)
    with Session(seeded) as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 2
