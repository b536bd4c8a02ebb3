"""CSV exports neutralise cells a spreadsheet would run (``=``, ``+``, ``-``, ``@``, tab,
CR): the readiness CSV and the SLA CSV, over the real app. (The snapshot CSV goes through
the same writer; it holds codes and verdicts only, no user text.)"""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from core.csvcells import neutralise
from core.settings import Settings
from inventory.models import Region
from kentongan.app import create_app
from tests.alerts.test_sla import history

KEMIREN = "35.10.15.2004"
EVIL = {
    KEMIREN: "=HYPERLINK(\"http://127.0.0.1/x\",\"klik\")",
    "35.10.15": "@SUM(1+1)*cmd|' /C calc'!A0",
    "35.10.15.2005": "+1+1",
    "35.10.13.2013": "-2+3",
}


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
        ("\rx", "'\rx"), ("Kemiren", "Kemiren"), ("", ""), ("a=b", "a=b"), (-1.5, -1.5),
        (None, None),
    ],
)
def test_neutralise(raw: object, safe: object) -> None:
    assert neutralise(raw) == safe


def _rename(engine: Engine) -> None:
    with engine.begin() as conn:
        for code, name in EVIL.items():
            conn.execute(update(Region).where(Region.code == code).values(name=name))


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _no_formula(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for key, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (key, cell)
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), cell


def test_readiness_csv_neutralises_names(app_settings: Settings, seeded: Engine) -> None:
    _rename(seeded)  # before the app starts: its readiness board is warmed at start-up
    settings = app_settings.model_copy(update={"readiness_cache_seconds": 0})
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/v1/readiness.csv")
    assert r.status_code == 200
    rows = _rows(r.text)
    kemiren = next(row for row in rows if row["village_code"] == KEMIREN)
    assert kemiren["village_name"] == "'" + EVIL[KEMIREN]
    assert kemiren["district_name"] == "'" + EVIL["35.10.15"]
    _no_formula(rows)


def test_sla_csv_neutralises_names(client: TestClient, seeded: Engine) -> None:
    _rename(seeded)
    history(seeded)
    r = client.get("/api/v1/reports/sla", params={"month": "2026-10", "format": "csv"})
    assert r.status_code == 200
    rows = _rows(r.text)
    names = {row["id"]: row["name"] for row in rows}
    assert names[KEMIREN] == "'" + EVIL[KEMIREN]
    assert names["35.10.15.2005"] == "'+1+1"
    assert names["35.10.13.2013"] == "'-2+3"
    assert float(next(row for row in rows if row["id"] == KEMIREN)["link_outage_s"]) == 7200
    _no_formula(rows)
