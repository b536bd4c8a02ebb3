"""The dashboard names the cut: one root-cause row for an area outage, not a row for
every device behind it, and the village page shows the probable cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts.models import Incident
from core.settings import Settings
from inventory.importer import import_paths
from kentongan.app import create_app

ROOT = Path(__file__).resolve().parents[2]


def _incident(
    n: int,
    alertname: str,
    *,
    device: str | None = None,
    link: str | None = None,
    cause: str | None = None,
    village: str | None = None,
    site: str | None = None,
) -> Incident:
    at = datetime(2026, 11, 22, 3, 0, tzinfo=UTC) + timedelta(seconds=n)
    return Incident(
        fingerprint=f"fp{n}",
        alertname=alertname,
        severity="critical",
        status="open",
        starts_at=at,
        device_id=device,
        link_id=link,
        site_id=site,
        village_code=village,
        district_code="35.10.15",
        summary=f"{alertname} {device or link or ''}",
        probable_cause=cause,
        probable_cause_kind="link" if cause else None,
        labels={},
        annotations={},
        created_at=at,
        updated_at=at,
    )


def test_area_outage_shows_once_with_its_cause(engine: Engine, sqlite_url: str) -> None:
    examples = ROOT / "examples" / "banyuwangi"
    with Session(engine) as session:
        import_paths(session, [examples / "regions.csv", examples / "inventory.yaml"])
    with Session(engine) as session:
        session.add(_incident(1, "AreaOutage", link="fo-noc-glagah", cause="fo-noc-glagah"))
        for n, dev in enumerate(("rtr-kemiren", "rtr-olehsari", "kiosk-kemiren-1"), 2):
            session.add(
                _incident(
                    n,
                    "DeviceDown",
                    device=dev,
                    cause="fo-noc-glagah",
                    village="35.10.15.2004",
                    site="kantor-desa-kemiren",
                )
            )
        session.commit()
    app = create_app(Settings(database_url=sqlite_url, run_poller=False, readiness_cache_seconds=0))
    with TestClient(app) as client:
        board = client.get("/", params={"lang": "en"}).text
        outages = board[
            board.index('id="outages"') : board.index("</section>", board.index('id="outages"'))
        ]
        assert outages.count("fo-noc-glagah") >= 1
        assert "AreaOutage" in outages
        assert "DeviceDown" not in outages, "children of the cut must not be listed again"
        village = client.get("/desa/35.10.15.2004", params={"lang": "en"}).text
        assert "Probable cause" in village and "fo-noc-glagah" in village
        indonesian = client.get("/", params={"lang": "id"}).text
        assert "Gangguan terbuka" in indonesian
