"""Fixtures of the api tests: a migrated database holding the Banyuwangi sample with
observations, API tokens for every role, and the app (session-scoped, in tmp)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth import Role, create_token
from core.settings import Settings
from core.timeutil import utcnow
from inventory.db import make_engine, session_scope
from kentongan.app import create_app, upgrade
from tests.api.fleet import Scenario, import_banyuwangi, seed_observations

#: What the shared fleet looks like (Glagah, 35.10.15, is the programme managers' example).
SCENARIO = Scenario(
    down_links={"fo-noc-licin", "fo-glagah-olehsari"},
    old_kiosks={"kiosk-paspan-1": "2.3.9"},
    silent_kiosks={"kiosk-rejosari-1"},
    critical_sites={"kantor-desa-glagah"},
    unattested={"kantor-desa-kenjo": "lactation_room"},
)
GLAGAH = "35.10.15"
KEMIREN = "35.10.15.2004"


@dataclass(slots=True)
class ApiEnv:
    """The shared app and what tests need to talk to it."""

    app: FastAPI
    client: TestClient
    engine: Engine
    url: str
    tokens: dict[Role, str]
    db_path: Path

    def headers(self, role: Role | None) -> dict[str, str]:
        """Authorization headers for ``role`` (none for None)."""
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}


def build_db(path: Path, *, scenario: Scenario = SCENARIO) -> tuple[str, Engine]:
    """A migrated SQLite database with the sample inventory and observations."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_banyuwangi(session)
    with session_scope(engine) as session:
        seed_observations(session, now=utcnow(), scenario=scenario)
    return url, engine


def make_env(path: Path, **settings: object) -> Iterator[ApiEnv]:
    """Build the database, tokens and app; close everything afterwards."""
    url, engine = build_db(path)
    tokens: dict[Role, str] = {}
    with session_scope(engine) as session:
        for role in Role:
            _row, tokens[role] = create_token(session, f"test-{role.value}", role)
    app = create_app(Settings(database_url=url, run_poller=False, **settings))  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield ApiEnv(app=app, client=client, engine=engine, url=url, tokens=tokens, db_path=path)
    engine.dispose()


@pytest.fixture(scope="session")
def api_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    """The shared app over the sample fleet; the board is recomputed on every read."""
    yield from make_env(tmp_path_factory.mktemp("api") / "kentongan.db",
                        readiness_cache_seconds=0)


@pytest.fixture
def fresh_env(tmp_path: Path) -> Iterator[ApiEnv]:
    """A private app over its own copy of the fleet (for tests that write)."""
    yield from make_env(tmp_path / "kentongan.db", readiness_cache_seconds=0)
