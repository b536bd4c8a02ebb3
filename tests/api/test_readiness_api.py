"""The readiness API over the sample Banyuwangi fleet with a few things broken
(see ``conftest.SCENARIO``): verdicts, evidence, filters, summaries, CSV, history."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from api.readiness.service import village_qualified_samples
from core.settings import Settings
from core.timeutil import utcnow
from inventory.db import session_scope
from tests.api.conftest import GLAGAH, KEMIREN, ApiEnv

V = "/api/v1/readiness/villages"


def village(env: ApiEnv, code: str) -> dict:  # type: ignore[type-arg]
    r = env.client.get(f"{V}/{code}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def checks(body: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {c["id"]: c for c in body["checks"]}


def test_healthy_village_is_qualified_with_evidence(api_env: ApiEnv) -> None:
    body = village(api_env, KEMIREN)
    assert body["verdict"] == "qualified"
    assert body["name"] == "Kemiren" and body["district_name"] == "Glagah"
    assert body["since"] is not None
    c = checks(body)
    assert c["network.availability"]["evidence"]["percent"] == 100.0
    assert c["network.availability"]["evidence"]["thresholds"]["min_percent"] == 99.0
    assert c["facilities.lactation_room"]["evidence"]["attested_by"]
    assert c["kiosk.app_version"]["evidence"]["kiosks"][0]["app_version"] == "2.5.1"


def test_each_broken_village_names_its_own_reason(api_env: ApiEnv) -> None:
    expected = {
        "35.10.15.2005": ("network.uplink_up", "fail"),          # Olehsari: uplink down
        "35.10.15.2001": ("kiosk.online", "fail"),               # Rejosari: kiosk silent
        "35.10.15.2007": ("kiosk.app_version", "fail"),          # Paspan: app 2.3.9
        "35.10.15.2006": ("incidents.no_open_critical", "fail"),  # Glagah: critical incident
        "35.10.15.2011": ("facilities.lactation_room", "fail"),  # Kenjo: no lactation room
    }
    for code, (check_id, status) in expected.items():
        body = village(api_env, code)
        assert body["verdict"] == "not_qualified", (code, body["failing"])
        assert checks(body)[check_id]["status"] == status, code
        assert check_id in body["failing"]
        assert body["blocking_reasons"][0]["en"] and body["blocking_reasons"][0]["id"]


def test_villages_behind_a_cut_district_fibre_are_blocked_upstream(api_env: ApiEnv) -> None:
    page = api_env.client.get(V, params={"district": "35.10.24", "limit": 100}).json()
    licin = [v for v in page["items"] if v["district_name"] == "Licin"]
    assert licin, page
    for v in licin:
        assert v["verdict"] == "unknown"
        body = village(api_env, v["code"])
        c = checks(body)
        assert c["network.uplink_up"]["status"] == "blocked_upstream"
        assert c["network.uplink_up"]["blocked_by"] == "fo-noc-licin"
        assert c["kiosk.online"]["status"] == "blocked_upstream"
        assert "fo-noc-licin" in c["kiosk.online"]["reason"]["en"]


def test_filters_and_pagination(api_env: ApiEnv) -> None:
    c = api_env.client
    glagah = c.get(V, params={"district": GLAGAH, "limit": 1000}).json()
    assert glagah["total"] == 10
    assert {v["district_code"] for v in glagah["items"]} == {GLAGAH}
    q = c.get(V, params={"district": GLAGAH, "verdict": "qualified"}).json()
    assert q["total"] == 5 and all(v["verdict"] == "qualified" for v in q["items"])
    f = c.get(V, params={"failing_check": "facilities.lactation_room", "district": GLAGAH}).json()
    assert [v["code"] for v in f["items"]] == ["35.10.15.2011"]
    kel = c.get(V, params={"site_kind": "kelurahan_office", "district": GLAGAH}).json()
    assert kel["total"] == 2 and all(v["site_kind"] == "kelurahan_office" for v in kel["items"])
    p1 = c.get(V, params={"limit": 7, "offset": 0}).json()
    p2 = c.get(V, params={"limit": 7, "offset": 7}).json()
    assert p1["total"] == p2["total"] == 217
    assert len(p1["items"]) == 7 and p1["items"][-1]["code"] < p2["items"][0]["code"]
    assert c.get(V, params={"verdict": "maybe"}).status_code == 422
    assert c.get(V, params={"limit": 0}).status_code == 422


def test_district_and_regency_summaries(api_env: ApiEnv) -> None:
    d = api_env.client.get(f"/api/v1/readiness/districts/{GLAGAH}").json()
    assert d["name"] == "Glagah"
    assert d["counts"] == {"total": 10, "qualified": 5, "not_qualified": 5, "unknown": 0,
                           "percent_qualified": 50.0}
    assert "facilities.lactation_room" in {t["check"] for t in d["top_failing"]}
    regency = api_env.client.get("/api/v1/readiness").json()
    assert regency["counts"]["total"] == 217
    assert len(regency["districts"]) == 25
    assert sum(x["counts"]["total"] for x in regency["districts"]) == 217
    assert regency["evaluated_at_wib"].endswith("WIB")
    tallies = {t["check"]: t for t in regency["top_failing"]}
    assert tallies["network.uplink_up"]["fail"] == 1  # Olehsari's own uplink
    assert tallies["network.uplink_up"]["blocked_upstream"] >= 5  # Licin behind fo-noc-licin
    assert api_env.client.get("/api/v1/readiness/summary").json()["counts"] == regency["counts"]
    assert len(api_env.client.get("/api/v1/readiness/districts").json()) == 25
    assert api_env.client.get("/api/v1/readiness/districts/99.99").status_code == 404


def test_what_if_and_cohorts(api_env: ApiEnv) -> None:
    what = {w["fix"]: w for w in api_env.client.get("/api/v1/readiness/what-if").json()}
    assert what["facilities.lactation_room"]["would_qualify"] >= 1
    assert what["incidents.no_open_critical"]["would_qualify"] >= 1
    regency = api_env.client.get("/api/v1/readiness").json()
    assert what["facilities.lactation_room"]["qualified_after"] == (
        regency["counts"]["qualified"] + what["facilities.lactation_room"]["would_qualify"])
    cohorts = {c["id"]: c for c in api_env.client.get("/api/v1/readiness/cohorts").json()}
    fibre = cohorts["fibre-175"]
    assert fibre["counts"]["total"] > 150
    assert fibre["needed"] == max(0, -(-90 * fibre["counts"]["total"] // 100)
                                  - fibre["counts"]["qualified"])
    assert cohorts["all-villages"]["counts"]["total"] == 217


def test_csv_export_answers_the_glagah_question(api_env: ApiEnv) -> None:
    r = api_env.client.get("/api/v1/readiness.csv", params={"district": GLAGAH})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 10
    by_name = {row["village_name"]: row for row in rows}
    assert by_name["Kemiren"]["verdict"] == "qualified"
    assert by_name["Kenjo"]["verdict"] == "not_qualified"
    assert "lactation room" in by_name["Kenjo"]["blocking_reasons_en"]
    assert "ruang laktasi" in by_name["Kenjo"]["blocking_reasons_id"]
    assert by_name["Kemiren"]["since_wib"].endswith("WIB")


def test_history_and_snapshot_of_a_past_day(api_env: ApiEnv) -> None:
    api_env.client.get("/api/v1/readiness")
    hist = api_env.client.get(f"{V}/{KEMIREN}/history").json()
    assert hist and hist[0]["verdict"] == "qualified"
    today = (utcnow() + timedelta(hours=7)).date()
    snap = api_env.client.get("/api/v1/readiness/snapshot", params={"on": str(today)}).json()
    assert len(snap["items"]) == 217
    assert {i["village_code"]: i["verdict"] for i in snap["items"]}[KEMIREN] == "qualified"
    past = api_env.client.get("/api/v1/readiness/snapshot",
                              params={"on": str(today - timedelta(days=400))}).json()
    assert past["items"] == []
    r = api_env.client.get("/api/v1/readiness/snapshot.csv",
                           params={"on": str(today), "district": GLAGAH})
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 11


def test_unknown_village_is_404(api_env: ApiEnv) -> None:
    r = api_env.client.get(f"{V}/35.10.99.9999")
    assert r.status_code == 404 and "35.10.99.9999" in r.json()["detail"]


def test_village_qualified_metric_samples(api_env: ApiEnv) -> None:
    settings = Settings(database_url=api_env.url, run_poller=False)
    with session_scope(api_env.engine) as session:
        samples = village_qualified_samples(session, settings)
    by_village = {labels["village"]: (labels, value) for labels, value in samples}
    assert len(by_village) == 217
    assert by_village[KEMIREN][1] == 1.0
    assert by_village["35.10.15.2011"][1] == 0.0
    assert by_village[KEMIREN][0]["district"] == GLAGAH
    assert all(set(labels) == {"village", "district", "verdict"} for labels, _ in samples)
