"""Fixtures of the alerts tests: a seeded database, the app, and real Prometheus and
Alertmanager processes (session-scoped, always stopped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from core.settings import Settings
from kentongan.app import create_app
from tests.alerts.support import seed, set_all_up

WEBHOOK_TOKEN = "test-webhook-token-5f3a"
SCRAPE_TOKEN = "test-scrape-token-9c2e"


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    """The migrated SQLite database with the small fibre tree, everything up."""
    seed(engine)
    set_all_up(engine)
    return engine


@pytest.fixture
def app_settings(sqlite_url: str, seeded: Engine, tmp_path: Path) -> Settings:
    scrape_file = tmp_path / "scrape_token"
    scrape_file.write_text(SCRAPE_TOKEN + "\n")
    return Settings(
        database_url=sqlite_url,
        run_poller=False,
        webhook_token=SecretStr(WEBHOOK_TOKEN),
        scrape_token_file=scrape_file,
    )


@pytest.fixture
def scrape_headers() -> dict[str, str]:
    """What Prometheus sends with the scrape credential."""
    return {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def alerts_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "alerts"
