"""The monthly SLA report: causes (upstream link, power, own device), maintenance left out,
per village, district and cohort, as JSON, CSV and a page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from alerts.models import Incident
from alerts.sla import ReportError, month_bounds, sla_report
from api.readiness.policy import load_policy
from collectors.models import StateTransition
from inventory.models import MaintenanceWindow


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def history(engine: Engine) -> None:
    """October 2026: an own-device outage, a fibre cut, a power cut, planned work."""
    rows: list[dict[str, object]] = []

    def span(kind: str, subject: str, status: str, start: datetime, end: datetime) -> None:
        rows.append({"kind": kind, "subject": subject, "from_status": "up",
                     "to_status": status, "at": start})
        rows.append({"kind": kind, "subject": subject, "from_status": status,
                     "to_status": "up", "at": end})

    for dev in ("rtr-kemiren", "rtr-olehsari", "rtr-banjarsari", "rtr-rogojampi",
                "ups-kemiren", "kiosk-kemiren-1"):
        rows.append({"kind": "device", "subject": dev, "from_status": "unknown",
                     "to_status": "up", "at": datetime(2026, 9, 30, tzinfo=UTC)})
    span("device", "rtr-kemiren", "down", at(5, 3), at(5, 4))
    for dev in ("rtr-kemiren", "rtr-olehsari", "rtr-banjarsari"):
        span("device", dev, "unreachable", at(10, 0), at(10, 2))
    span("device", "rtr-olehsari", "down", at(15, 12, 30), at(15, 13, 30))
    span("device", "rtr-rogojampi", "down", at(20, 1, 30), at(20, 2, 30))
    # the uplinks as the store derives them from those device states
    for lid in ("fo-core-glagah", "fo-glagah-kemiren", "fo-glagah-olehsari",
                "fo-glagah-banjarsari", "fo-core-rogojampi"):
        rows.append({"kind": "link", "subject": lid, "from_status": "unknown",
                     "to_status": "up", "at": datetime(2026, 9, 30, tzinfo=UTC)})
    span("link", "fo-glagah-kemiren", "down", at(5, 3), at(5, 4))
    for key in ("kemiren", "olehsari", "banjarsari"):
        span("link", f"fo-glagah-{key}", "unreachable", at(10, 0), at(10, 2))
    span("link", "fo-core-glagah", "down", at(10, 0), at(10, 2))
    span("link", "fo-glagah-olehsari", "down", at(15, 12, 30), at(15, 13, 30))
    span("link", "fo-core-rogojampi", "down", at(20, 1, 30), at(20, 2, 30))
    with engine.begin() as conn:
        conn.execute(insert(StateTransition), rows)
        conn.execute(insert(Incident).values(
            fingerprint="ups1", alertname="UPSOnBattery", severity="warning", status="resolved",
            starts_at=at(15, 10), ends_at=at(15, 13, 30), device_id="ups-olehsari",
            site_id="kantor-desa-olehsari", village_code="35.10.15.2005",
            district_code="35.10.15", labels={}, annotations={}, deliveries=1,
            created_at=at(15, 10), updated_at=at(15, 13, 30)))
        conn.execute(insert(MaintenanceWindow).values(
            id="mw-rogojampi", scope="site", target="kantor-desa-rogojampi",
            starts_at=at(20, 1), ends_at=at(20, 3), reason="splice"))


def test_month_bounds_are_wib() -> None:
    start, end = month_bounds("2026-10")
    assert start == datetime(2026, 9, 30, 17, tzinfo=UTC)
    assert end == datetime(2026, 10, 31, 17, tzinfo=UTC)
    assert month_bounds("2026-12")[1] == datetime(2026, 12, 31, 17, tzinfo=UTC)
    for bad in ("2026-13", "26-10", "", "2026-1", "0000-01", "9999-12"):
        with pytest.raises(ReportError):
            month_bounds(bad)


def test_outages_are_attributed_to_their_cause(seeded: Engine) -> None:
    history(seeded)
    with Session(seeded) as session:
        report = sla_report(session, month="2026-10", now=at(31, 0),
                            cohorts=load_policy().cohorts)
    causes = {(o.device_id, o.start.day): (o.cause.value, o.cause_subject)
              for o in report.outages}
    assert causes == {
        ("rtr-kemiren", 5): ("device", "rtr-kemiren"),
        ("rtr-kemiren", 10): ("link", "fo-core-glagah"),
        ("rtr-olehsari", 10): ("link", "fo-core-glagah"),
        ("rtr-banjarsari", 10): ("link", "fo-core-glagah"),
        ("rtr-olehsari", 15): ("power", "kantor-desa-olehsari"),
    }  # rtr-rogojampi's outage lies inside its maintenance window
    villages = {r.id: r for r in report.villages}
    kemiren = villages["35.10.15.2004"]
    assert kemiren.device_outage_s == 3600 and kemiren.link_outage_s == 7200
    assert kemiren.down_s == pytest.approx(3600, abs=1)
    assert kemiren.availability_percent is not None and kemiren.availability_percent < 100
    assert villages["35.10.15.2005"].power_outage_s == 3600
    assert villages["35.10.13.2013"].outages == 0
    assert villages["35.10.13.2013"].maintenance_s >= 3600
    glagah = next(r for r in report.districts if r.id == "35.10.15")
    assert glagah.villages == 3 and glagah.link_outage_s == 3 * 7200
    assert glagah.name == "Glagah"
    cohorts = {r.id: r for r in report.cohorts}
    assert cohorts["fibre-175"].villages == 4 and cohorts["all-villages"].villages == 4


def test_filters(seeded: Engine) -> None:
    history(seeded)
    with Session(seeded) as session:
        one = sla_report(session, month="2026-10", village="35.10.15.2005", now=at(31, 0))
        assert [r.id for r in one.villages] == ["35.10.15.2005"]
        district = sla_report(session, month="2026-10", district="35.10.13", now=at(31, 0))
        assert [r.id for r in district.villages] == ["35.10.13.2013"]
        with pytest.raises(ReportError, match="cohort"):
            sla_report(session, month="2026-10", cohort="nope")


def test_report_routes(client: TestClient, seeded: Engine) -> None:
    history(seeded)
    r = client.get("/api/v1/reports/sla", params={"month": "2026-10"})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "store" and len(body["villages"]) == 4
    r = client.get("/api/v1/reports/sla", params={"month": "2026-10", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["scope"] for row in rows} == {"village", "district", "cohort"}
    kemiren = next(row for row in rows if row["id"] == "35.10.15.2004")
    assert float(kemiren["link_outage_s"]) == 7200
    assert client.get("/api/v1/reports/sla", params={"month": "2026-13"}).status_code == 422
    assert client.get("/api/v1/reports/sla").status_code == 422
    r = client.get("/api/v1/reports/sla", params={"month": "0000-01"})
    assert r.status_code == 400 and "out of range" in r.text
    r = client.get("/api/v1/reports/sla", params={"month": "2026-10", "cohort": "nope"})
    assert r.status_code == 400 and "unknown cohort" in r.text
    page = client.get("/reports/sla", params={"month": "2026-10"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "fo-core-glagah" in page.text and "listrik / power" in page.text
    assert "Kemiren" in page.text


def test_durations_read_right_in_both_languages() -> None:
    from alerts.sla import format_duration

    assert format_duration(1440) == "24 menit 0 detik"  # never "24 m 0 d"
    assert format_duration(1440, "en") == "24 min 0 s"
    assert format_duration(27_621) == "7 jam 40 menit"
    assert format_duration(27_621, "en") == "7 h 40 min"
    assert format_duration(90_061, "en") == "1 d 1 h" and format_duration(0) == "–"


def test_cohort_rows_follow_the_district_filter(seeded: Engine) -> None:
    history(seeded)
    with Session(seeded) as session:
        cohorts = load_policy().cohorts  # the caller (api/) passes the policy's cohorts
        whole = sla_report(session, month="2026-10", cohorts=cohorts, now=at(31, 0))
        glagah = sla_report(session, month="2026-10", district="35.10.15", cohorts=cohorts,
                            now=at(31, 0))
    assert {r.villages for r in whole.cohorts} == {4}
    assert {r.villages for r in glagah.cohorts} == {3}
    assert all(r.name.endswith("· Glagah") for r in glagah.cohorts), glagah.cohorts
    assert all(r.district_code == "35.10.15" for r in glagah.cohorts)


def test_sla_page_durations_in_english(client: TestClient, seeded: Engine) -> None:
    history(seeded)
    page = client.get("/reports/sla", params={"month": "2026-10", "lang": "en"})
    assert page.status_code == 200 and "2 h 0 min" in page.text
    page = client.get("/reports/sla", params={"month": "2026-10"})
    assert "2 jam 0 menit" in page.text and " m 0 d" not in page.text
