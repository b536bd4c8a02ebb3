"""Suite-wide fixtures: settings and databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.settings import Settings
from tests.support.db import migrated_engine, postgres_available, postgres_schema_url

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_ready() -> None:
    """Skip (or, under CI, fail) when the PostgreSQL test server does not answer."""
    reason = postgres_available()
    if reason is None:
        return
    message = f"PostgreSQL at KENTONGAN_TEST_POSTGRES_URL does not answer: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kentongan.db'}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite database in a temporary directory."""
    eng = migrated_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same test against SQLite and against PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        eng = migrated_engine(f"sqlite:///{tmp_path / 'kentongan.db'}")
        yield eng
        eng.dispose()
        return
    request.getfixturevalue("postgres_ready")
    with postgres_schema_url() as url:
        eng = migrated_engine(url)
        yield eng
        eng.dispose()


@pytest.fixture
def settings(sqlite_url: str, engine: Engine) -> Settings:
    """Settings pointing at the migrated temporary SQLite database, poller off."""
    return Settings(database_url=sqlite_url, run_poller=False)
